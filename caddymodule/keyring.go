package caddymodule

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/keyring"
)

// remoteSources holds one key source per URL, shared by every handler and
// config that names it and stopped when the last of them is cleaned up.
var remoteSources = caddy.NewUsagePool()

// JWKSURL is a remote JWK set, fetched in the background and refreshed.
type JWKSURL struct {
	// The URL of the JWK set: https, or http to a loopback address.
	URL string `json:"url"`

	// How often the set is fetched again. A Cache-Control max-age can
	// shorten it, never lengthen it. Default: `15m`
	Refresh caddy.Duration `json:"refresh,omitempty"`

	// How long one fetch may take, redirects and body included.
	// Default: `5s`
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// loadLocalKeys reads the api_keys file and every jwks_file, as Provision
// and the command-line tools do.
func (g *Gateway) loadLocalKeys() error {
	if err := listedOnce("jwks_file", g.JWKSFiles); err != nil {
		return err
	}
	g.watched = make(map[string][]byte)
	if g.APIKeys != "" {
		if err := g.loadTenantKeys(); err != nil {
			return err
		}
	}
	return g.loadKeyFiles()
}

// loadKeyFiles reads every jwks_file into the handler's key ring, and
// keeps what it read for the watcher. Skipped keys are logged by kid and
// reason so an operator can see why a key is not trusted.
func (g *Gateway) loadKeyFiles() error {
	ring, err := keyring.NewRing(nil, g.Algorithms, g.logger, g.keyMetrics())
	if err != nil {
		return fmt.Errorf("jwks_file: %w", err)
	}
	for _, path := range g.JWKSFiles {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("jwks_file %s: %w", path, err)
		}
		if err := ring.AddFile(path, data); err != nil {
			return err
		}
		g.watched[path] = data
	}
	g.ring = ring
	return nil
}

// startKeySources joins the shared refresher of each jwks_url. It does not
// wait for any fetch: until a first set arrives, requests get 503.
func (g *Gateway) startKeySources() error {
	for _, u := range g.JWKSURLs {
		if err := keyring.CheckURL(u.URL); err != nil {
			return fmt.Errorf("jwks_url: %w", err)
		}
	}
	for _, u := range g.JWKSURLs {
		value, shared, err := remoteSources.LoadOrNew(u.URL, func() (caddy.Destructor, error) {
			return keyring.NewSource(u.URL, time.Duration(u.Refresh), time.Duration(u.Timeout)), nil
		})
		if err != nil {
			return fmt.Errorf("jwks_url %s: %w", keyring.LoggableURL(u.URL), err)
		}
		src := value.(*keyring.Source)
		g.ring.AddWithOptions(src, time.Duration(u.Refresh), time.Duration(u.Timeout))
		src.Start()
		if shared {
			// A reload is also a way to pick up a revocation at once.
			src.Wake()
		}
	}
	g.ring.Rebuild()
	return nil
}

// stopKeySources leaves the shared refreshers, which stop when no config
// uses them any more; it is safe after a failed Provision.
func (g *Gateway) stopKeySources() {
	if g.ring == nil {
		return
	}
	for _, src := range g.ring.Detach() {
		_, _ = remoteSources.Delete(src.URL())
	}
}

// loadTenantKeys reads the api_keys file of API key hashes and their kids,
// and keeps what it read for the watcher.
func (g *Gateway) loadTenantKeys() error {
	data, err := os.ReadFile(g.APIKeys)
	if err != nil {
		return fmt.Errorf("api_keys: %w", err)
	}
	if g.tenants, err = keyring.NewTenantFile(g.APIKeys, data, g.logger, g.keyMetrics()); err != nil {
		return err
	}
	g.watched[g.APIKeys] = data
	return nil
}

// tenantKids returns the kids that may sign for the request's X-Api-Key, or
// nil when no api_keys file is configured.
func (g *Gateway) tenantKids(r *http.Request) ([]string, *envelope.Rejection) {
	if g.tenants == nil {
		return nil, nil
	}
	values := r.Header.Values("X-Api-Key")
	switch {
	case len(values) == 0 || values[0] == "":
		return nil, envelope.Reject(envelope.ReasonAPIKey, "the X-Api-Key header is missing")
	case len(values) > 1:
		return nil, envelope.Reject(envelope.ReasonAPIKey, "the X-Api-Key header is repeated")
	}
	kids, ok := g.tenants.Kids(values[0])
	if !ok {
		return nil, envelope.Reject(envelope.ReasonAPIKey, "the X-Api-Key is not registered")
	}
	return kids, nil
}

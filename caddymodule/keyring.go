package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"

	"go.uber.org/zap"
)

// loadKeyFiles reads every jwks_file. Skipped keys are logged by kid and
// reason so an operator can see why a key is not trusted.
func (g *Gateway) loadKeyFiles() error {
	var all []*verificationKey
	for _, path := range g.JWKSFiles {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("jwks_file %s: %w", path, err)
		}
		keys, skipped, err := parseJWKS(data, g.Algorithms)
		if err != nil {
			return fmt.Errorf("jwks_file %s: %w", path, err)
		}
		for _, s := range skipped {
			g.logger.Warn("signing key left out", zap.String("source", path), zap.Int("index", s.index), zap.String("kid", s.kid), zap.String("why", s.why))
		}
		if len(keys) == 0 {
			return fmt.Errorf("jwks_file %s: no usable signing key for algorithms %s", path, strings.Join(g.Algorithms, ", "))
		}
		all = append(all, keys...)
	}
	if _, err := newKeySet(all); err != nil {
		return fmt.Errorf("jwks_file: %w", err)
	}
	g.fileKeys = all
	return nil
}

// startKeySources joins the shared refresher of each jwks_url. It does not
// wait for any fetch: until a first set arrives, requests get 503.
func (g *Gateway) startKeySources() error {
	for _, u := range g.JWKSURLs {
		if err := checkJWKSURL(u.URL); err != nil {
			return fmt.Errorf("jwks_url: %w", err)
		}
	}
	for _, u := range g.JWKSURLs {
		src, err := acquireRemoteSource(u, g, g.rebuildKeys)
		if err != nil {
			return fmt.Errorf("jwks_url %s: %w", loggableURL(u.URL), err)
		}
		// Under the lock: a source may already call rebuildKeys.
		g.rebuildMu.Lock()
		g.sources = append(g.sources, src)
		g.rebuildMu.Unlock()
	}
	g.rebuildKeys()
	return nil
}

// rebuildKeys assembles the trusted set from the files and each source's
// last good keys, keeping only keys for this handler's algorithms. A remote
// key whose kid is already taken is left out: files win, then sources in
// configuration order.
func (g *Gateway) rebuildKeys() {
	g.rebuildMu.Lock()
	defer g.rebuildMu.Unlock()
	keys := slices.Clone(g.fileKeys)
	taken := make(map[string]bool, len(keys))
	for _, k := range keys {
		taken[k.kid] = true
	}
	remote := 0
	for _, src := range g.sources {
		for _, k := range src.current() {
			switch {
			case !slices.Contains(g.Algorithms, k.alg.name):
			case taken[k.kid]:
				g.logger.Warn("signing key left out", zap.String("source", loggableURL(src.url)), zap.String("kid", k.kid), zap.String("why", "another source already has this kid"))
			default:
				taken[k.kid] = true
				keys = append(keys, k)
				remote++
			}
		}
	}
	ks, err := newKeySet(keys)
	if err != nil {
		// Cannot happen: kids were made unique above.
		g.logger.Error("assembling keys", zap.Error(err))
		return
	}
	g.keys.Store(ks)
	g.metrics.setKeysLoaded("file", len(g.fileKeys))
	g.metrics.setKeysLoaded("url", remote)
}

// lookupKid finds a key by kid. An unknown kid asks each remote source for
// one refresh (rate limited, shared by concurrent callers) before it is
// judged unknown, so a rotated-in key works on its first request.
func (g *Gateway) lookupKid(ctx context.Context, kid string) (*verificationKey, bool) {
	if key, ok := g.keys.Load().byKid[kid]; ok {
		return key, true
	}
	g.rebuildMu.Lock()
	sources := g.sources
	g.rebuildMu.Unlock()
	if len(sources) == 0 {
		return nil, false
	}
	for _, src := range sources {
		src.refreshForUnknownKid(ctx)
	}
	key, ok := g.keys.Load().byKid[kid]
	return key, ok
}

// stopKeySources leaves the shared refreshers; it is safe after a failed
// Provision.
func (g *Gateway) stopKeySources() {
	g.rebuildMu.Lock()
	sources := g.sources
	g.sources = nil
	g.rebuildMu.Unlock()
	for _, src := range sources {
		releaseRemoteSource(src, g)
	}
}

// tenantKeys maps the hex SHA-256 of an API key to the kids registered for
// it. The file holds hashes only, never API keys.
type tenantKeys map[string][]string

func loadTenantKeys(path string) (tenantKeys, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("api_keys: %w", err)
	}
	var tenants tenantKeys
	if err := json.Unmarshal(data, &tenants); err != nil {
		return nil, fmt.Errorf("api_keys %s: not a JSON object of hash to kids: %w", path, err)
	}
	for hash, kids := range tenants {
		if len(hash) != sha256.Size*2 || strings.ToLower(hash) != hash || !isHex(hash) {
			return nil, fmt.Errorf("api_keys %s: every name must be the lowercase hex SHA-256 of an API key (64 characters)", path)
		}
		if len(kids) == 0 || slices.Contains(kids, "") {
			return nil, fmt.Errorf("api_keys %s: every API key hash needs at least one kid", path)
		}
	}
	return tenants, nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// tenantKids returns the kids that may sign for the request's X-Api-Key, or
// nil when no api_keys file is configured.
func (g *Gateway) tenantKids(r *http.Request) ([]string, *rejection) {
	if g.tenants == nil {
		return nil, nil
	}
	values := r.Header.Values("X-Api-Key")
	switch {
	case len(values) == 0 || values[0] == "":
		return nil, reject(reasonAPIKey, "the X-Api-Key header is missing")
	case len(values) > 1:
		return nil, reject(reasonAPIKey, "the X-Api-Key header is repeated")
	}
	sum := sha256.Sum256([]byte(values[0]))
	kids, ok := g.tenants[hex.EncodeToString(sum[:])]
	if !ok {
		return nil, reject(reasonAPIKey, "the X-Api-Key is not registered")
	}
	return kids, nil
}

package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"go.uber.org/zap"

	"github.com/checkoutgw/checkoutgw/keyring"
)

// handlerName is the checkout gateway's name in a JSON config's routes.
const handlerName = "checkout_gateway"

// toolGatewayOptions say where `caddy checkout sign` and `explain` take the
// gateway's rules from.
type toolGatewayOptions struct {
	configPath string // a Caddyfile, or JSON when it ends in .json; "" for the defaults
	route      string // the action of the handler to use when the config has several
	jwks       string // a key file or URL that replaces the config's key sources
}

// toolGateway builds the gateway that the options name, with defaults
// applied and its token policy, schema and methods built by the same code
// as Provision, but with no store, metrics or watcher. edit may set
// command-line overrides before the defaults are applied.
func toolGateway(o toolGatewayOptions, logger *zap.Logger, edit func(*Gateway)) (*Gateway, error) {
	g := new(Gateway)
	if o.configPath != "" {
		gateways, err := gatewaysInConfig(o.configPath)
		if err != nil {
			return nil, err
		}
		if g, err = pickRoute(o.configPath, gateways, o.route); err != nil {
			return nil, err
		}
	} else if o.route != "" {
		return nil, fmt.Errorf("--route needs --config: it picks one of the config's checkout_gateway handlers")
	}
	if o.jwks != "" {
		g.JWKSFiles, g.JWKSURLs = nil, nil
		if strings.Contains(o.jwks, "://") {
			g.JWKSURLs = []JWKSURL{{URL: o.jwks}}
		} else {
			g.JWKSFiles = []string{o.jwks}
		}
	}
	if edit != nil {
		edit(g)
	}
	g.logger, g.now = logger, time.Now
	if err := g.provisionContract(); err != nil {
		return nil, configError(o.configPath, err)
	}
	return g, nil
}

// gatewaysInConfig finds every checkout_gateway handler in a config, each
// with its defaults applied, so that its action is known.
func gatewaysInConfig(path string) ([]*Gateway, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	if !strings.EqualFold(filepath.Ext(path), ".json") {
		adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(data, map[string]any{"filename": path})
		if err != nil {
			return nil, fmt.Errorf("--config %s: adapting the Caddyfile: %w", path, err)
		}
		data = adapted
	}
	var tree any
	if err := json.Unmarshal(data, &tree); err != nil {
		return nil, fmt.Errorf("--config %s: %w", path, err)
	}
	var raws []map[string]any
	collectHandlers(tree, &raws)
	if len(raws) == 0 {
		return nil, fmt.Errorf("--config %s has no %s handler", path, handlerName)
	}
	gateways := make([]*Gateway, 0, len(raws))
	for _, raw := range raws {
		encoded, err := json.Marshal(raw)
		if err != nil {
			return nil, err
		}
		g := new(Gateway)
		if err := json.Unmarshal(encoded, g); err != nil {
			return nil, fmt.Errorf("--config %s: %s: %w", path, handlerName, err)
		}
		g.now = time.Now
		// Built twice (here for the action, later with overrides): the
		// defaults are applied to a copy so that overrides still apply.
		probe := *g
		probe.Methods = slices.Clone(g.Methods)
		if err := probe.provisionContract(); err != nil {
			return nil, configError(path, err)
		}
		g.Action = probe.Action
		gateways = append(gateways, g)
	}
	// The walk meets them in map order: sort, so messages are stable.
	slices.SortStableFunc(gateways, func(a, b *Gateway) int { return strings.Compare(a.Action, b.Action) })
	return gateways, nil
}

// collectHandlers walks a JSON config for checkout_gateway handlers,
// wherever routes, subroutes or handle blocks put them.
func collectHandlers(node any, out *[]map[string]any) {
	switch v := node.(type) {
	case map[string]any:
		if v["handler"] == handlerName {
			*out = append(*out, v)
			return
		}
		for _, child := range v {
			collectHandlers(child, out)
		}
	case []any:
		for _, child := range v {
			collectHandlers(child, out)
		}
	}
}

// pickRoute chooses the handler whose action is route, or the only one.
func pickRoute(path string, gateways []*Gateway, route string) (*Gateway, error) {
	actions := make([]string, len(gateways))
	for i, g := range gateways {
		actions[i] = g.Action
	}
	if route == "" {
		if len(gateways) == 1 {
			return gateways[0], nil
		}
		return nil, fmt.Errorf("--config %s has %d %s handlers (actions: %s); pick one with --route ACTION", path, len(gateways), handlerName, strings.Join(actions, ", "))
	}
	var found []*Gateway
	for _, g := range gateways {
		if g.Action == route {
			found = append(found, g)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("--route %q: no %s handler in %s has that action; its actions are: %s", route, handlerName, path, strings.Join(actions, ", "))
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("--route %q: %d handlers in %s have that action; give each its own `action` to tell them apart", route, len(found), path)
}

func configError(path string, err error) error {
	if path == "" {
		return err
	}
	return fmt.Errorf("--config %s: %s: %w", path, handlerName, err)
}

// loadToolKeys loads the gateway's keys as the gateway would: its key
// files and api_keys file, and each jwks_url fetched once, with the bounds
// the gateway's refresher keeps (https or loopback http, timeout, size,
// redirects).
func (g *Gateway) loadToolKeys(ctx context.Context) error {
	if len(g.JWKSFiles) == 0 && len(g.JWKSURLs) == 0 {
		return fmt.Errorf("no key to verify with: give --jwks FILE|URL, or --config with a jwks_file or jwks_url")
	}
	if err := g.loadLocalKeys(); err != nil {
		return err
	}
	var fetchErr error
	for _, u := range g.JWKSURLs {
		if err := keyring.CheckURL(u.URL); err != nil {
			return fmt.Errorf("jwks_url: %w", err)
		}
		src := keyring.NewSource(u.URL, time.Duration(u.Refresh), time.Duration(u.Timeout))
		g.ring.AddWithOptions(src, time.Duration(u.Refresh), time.Duration(u.Timeout))
		if err := src.FetchOnce(ctx); err != nil && fetchErr == nil {
			fetchErr = fmt.Errorf("jwks_url %s: %w", keyring.LoggableURL(u.URL), err)
		}
	}
	g.ring.Rebuild()
	// Detached, the sources are never asked again: an unknown kid is
	// judged on the keys fetched once, not after a wait for a refresher.
	for _, src := range g.ring.Detach() {
		_ = src.Destruct()
	}
	return fetchErr
}

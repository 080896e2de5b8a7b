package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/checkoutgw/checkoutgw/keyring"
)

func init() {
	caddy.RegisterModule(adminCheckout{})
}

// readyTimeout bounds a readiness probe's check of a replay store.
const readyTimeout = time.Second

// adminCheckout is the gateway's control plane on Caddy's admin endpoint:
// which keys are loaded and from where, a refresh on demand, and a
// readiness probe. It never shows key material or a whole API key hash.
type adminCheckout struct{}

// CaddyModule returns the Caddy module information.
func (adminCheckout) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.checkout",
		New: func() caddy.Module { return new(adminCheckout) },
	}
}

// Routes returns the control plane's routes.
func (a adminCheckout) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/checkout/keys", Handler: onlyMethod(http.MethodGet, a.handleKeys)},
		{Pattern: "/checkout/keys/refresh", Handler: onlyMethod(http.MethodPost, a.handleRefresh)},
		{Pattern: "/checkout/ready", Handler: onlyMethod(http.MethodGet, a.handleReady)},
	}
}

func onlyMethod(method string, next caddy.AdminHandlerFunc) caddy.AdminHandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.Method != method {
			return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method not allowed; use %s", method)}
		}
		return next(w, r)
	}
}

// gatewayKeys is one handler's keys as GET /checkout/keys shows them.
type gatewayKeys struct {
	Handler string                 `json:"handler"`
	KeySets []keyring.SourceStatus `json:"key_sets"`
	APIKeys *keyring.TenantStatus  `json:"api_keys,omitempty"`
}

func (adminCheckout) handleKeys(w http.ResponseWriter, _ *http.Request) error {
	out := struct {
		Gateways []gatewayKeys `json:"gateways"`
	}{Gateways: []gatewayKeys{}}
	for _, g := range sortedGateways() {
		gk := gatewayKeys{Handler: g.Action, KeySets: g.ring.Status()}
		if g.tenants != nil {
			st := g.tenants.Status()
			gk.APIKeys = &st
		}
		out.Gateways = append(out.Gateways, gk)
	}
	return writeJSON(w, http.StatusOK, out)
}

// refreshResult is the outcome of refreshing one source of one handler.
type refreshResult struct {
	Handler string `json:"handler"`
	Kind    string `json:"kind"` // file, url or api_keys
	Source  string `json:"source"`
	Result  string `json:"result"` // "ok" or why it failed
}

// handleRefresh re-reads every key file and api_keys file and fetches every
// key-set URL now, each shared URL once. It answers 200 when every source
// refreshed, else 502, with the result per source either way.
func (adminCheckout) handleRefresh(w http.ResponseWriter, r *http.Request) error {
	gateways := sortedGateways()
	fetched := fetchAll(r.Context(), gateways)
	results := []refreshResult{}
	for _, g := range gateways {
		for _, path := range g.JWKSFiles {
			data, err := os.ReadFile(path)
			if err != nil {
				g.ring.ReadFailed(path, err)
			} else {
				err = g.ring.LoadFile(path, data)
			}
			results = append(results, refreshResult{g.Action, "file", path, resultOf(err)})
		}
		if g.tenants != nil {
			data, err := os.ReadFile(g.APIKeys)
			results = append(results, refreshResult{g.Action, "api_keys", g.APIKeys, resultOf(g.tenants.Reload(data, err))})
		}
		for _, src := range g.ring.Sources() {
			results = append(results, refreshResult{g.Action, "url", keyring.LoggableURL(src.URL()), resultOf(fetched[src])})
		}
	}
	status := http.StatusOK
	if slices.ContainsFunc(results, func(res refreshResult) bool { return res.Result != "ok" }) {
		status = http.StatusBadGateway
	}
	return writeJSON(w, status, struct {
		Results []refreshResult `json:"results"`
	}{results})
}

// fetchAll fetches every distinct source of the gateways at once and
// waits for all of them.
func fetchAll(ctx context.Context, gateways []*Gateway) map[*keyring.Source]error {
	results := make(map[*keyring.Source]error)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, g := range gateways {
		for _, src := range g.ring.Sources() {
			mu.Lock()
			_, started := results[src]
			results[src] = nil
			mu.Unlock()
			if started {
				continue
			}
			wg.Go(func() {
				err := src.RefreshNow(ctx)
				mu.Lock()
				results[src] = err
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	return results
}

func resultOf(err error) string {
	if err != nil {
		return err.Error()
	}
	return "ok"
}

// pinger is a replay store that can say whether it answers.
type pinger interface {
	Ping(ctx context.Context) error
}

// handleReady answers 200 when every gateway has a usable key and its
// replay store, if any, answers; else 503 with the reasons.
func (adminCheckout) handleReady(w http.ResponseWriter, r *http.Request) error {
	gateways := sortedGateways()
	reasons := []string{}
	if len(gateways) == 0 {
		reasons = append(reasons, "no checkout gateway is running")
	}
	for _, g := range gateways {
		if g.ring.Keys().Len() == 0 {
			reasons = append(reasons, fmt.Sprintf("%s: no signing key loaded", g.Action))
		}
		if p, ok := g.replay.(pinger); ok {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			err := p.Ping(ctx)
			cancel()
			if err != nil {
				reasons = append(reasons, fmt.Sprintf("%s: the replay store does not answer", g.Action))
			}
		}
	}
	status := http.StatusOK
	if len(reasons) > 0 {
		status = http.StatusServiceUnavailable
	}
	return writeJSON(w, status, struct {
		Ready   bool     `json:"ready"`
		Reasons []string `json:"reasons"`
	}{len(reasons) == 0, reasons})
}

func sortedGateways() []*Gateway {
	gateways := liveGateways.all()
	slices.SortStableFunc(gateways, func(a, b *Gateway) int { return strings.Compare(a.Action, b.Action) })
	return gateways
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: fmt.Errorf("encoding the answer: %w", err)}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(body)
	return err
}

// Interface guards
var _ caddy.AdminRouter = adminCheckout{}

package caddymodule

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// overrideTenants is an api_keys file: tenant A (kid a) in the object form
// with aOverride, tenant B (kid b) in the list form, or with bOverride.
func overrideTenants(aOverride, bOverride string) []byte {
	b := `["b"]`
	if bOverride != "" {
		b = `{"kids":["b"],` + bOverride + `}`
	}
	return []byte(fmt.Sprintf(`{%q:{"kids":["a"],%s},%q:%s}`, sha256Hex("ak_a_secret"), aOverride, sha256Hex("ak_b_secret"), b))
}

// TestRateLimitTenantOverride: through a real Caddy, tenant A is limited at
// its own rate from the api_keys file and tenant B, without an override,
// at the handler's; with either store. In memory, an edited override
// applies to both tenants within the watch bound, with no reload.
func TestRateLimitTenantOverride(t *testing.T) {
	stores := map[string]func(t *testing.T) string{
		"memory": func(*testing.T) string { return "" },
		"redis":  func(t *testing.T) string { return " store redis " + startRedis(t).url },
	}
	for name, store := range stores {
		t.Run(name, func(t *testing.T) {
			keyA, keyB := newTestKey(t, "a", "ES256"), newTestKey(t, "b", "ES256")
			apiKeys := filepath.Join(t.TempDir(), "api_keys.json")
			writeFile(t, apiKeys, overrideTenants(`"rate_limit":"4/1m","burst":2`, ""))
			up := newUpstream(t, nil)
			gw := startAdminCaddy(t, gatewaySite(up.hostPort(), "\t\t\tjwks_file "+writeJWKS(t, keyA, keyB)+"\n\t\t\tapi_keys "+apiKeys+"\n\t\t\trate_limit 1/1m"+store(t)))
			send := func(k *testKey, apiKey string) *http.Response {
				return gw.post(t, testPath, k.sign(t, validClaims(validBody), false), validBody, "X-Api-Key", apiKey)
			}
			// A: 4 a minute, burst 2: the third waits 15 s.
			for i := range 2 {
				if got := statusOf(t, send(keyA, "ak_a_secret")); got != http.StatusOK {
					t.Fatalf("A's request %d within its burst got %d", i+1, got)
				}
			}
			expectLimited(t, send(keyA, "ak_a_secret"), 14, 15)
			// B: the handler's 1 a minute: the second waits 60 s.
			if got := statusOf(t, send(keyB, "ak_b_secret")); got != http.StatusOK {
				t.Fatalf("B's first request got %d", got)
			}
			expectLimited(t, send(keyB, "ak_b_secret"), 59, 60)

			_, listing := gw.adminCall(t, http.MethodGet, "/checkout/keys")
			wantA := fmt.Sprintf(`{"api_key_sha256_prefix":%q,"kids":["a"],"rate_limit":{"rate":4,"period":"1m0s","burst":2}}`, sha256Hex("ak_a_secret")[:8])
			wantB := fmt.Sprintf(`{"api_key_sha256_prefix":%q,"kids":["b"]}`, sha256Hex("ak_b_secret")[:8])
			if !strings.Contains(listing, wantA) || !strings.Contains(listing, wantB) {
				t.Fatalf("GET /checkout/keys does not show each tenant's override next to its kids: %s", listing)
			}
			if name != "memory" {
				return
			}
			// A tightened to 1 an hour, B given 100 a second: both apply to
			// the buckets already held.
			writeFile(t, apiKeys, overrideTenants(`"rate_limit":"1/1h"`, `"rate_limit":"100/1s"`))
			took := eventually(t, keyChangeBound, "B's new override lets it through", func() bool {
				return statusOf(t, send(keyB, "ak_b_secret")) == http.StatusOK
			})
			t.Logf("took effect in %s", took)
			resp := send(keyA, "ak_a_secret")
			if secs, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusTooManyRequests || secs < 3000 {
				t.Fatalf("A after tightening got %d with Retry-After %q, want 429 with most of an hour", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			resp.Body.Close()
		})
	}
}

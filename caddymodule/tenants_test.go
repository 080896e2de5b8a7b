package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/checkoutgw/checkoutgw/envelope"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestTenantBinding: business A's key never verifies a request sent with
// business B's API key, with and without kid.
func TestTenantBinding(t *testing.T) {
	keyA, keyB := newTestKey(t, "business-a", "ES384"), newTestKey(t, "business-b", "ES384")
	apiKeys := filepath.Join(t.TempDir(), "api-keys.json")
	must(t, os.WriteFile(apiKeys, []byte(fmt.Sprintf(`{%q:["business-a"],%q:["business-b"]}`, sha256Hex("ak_a_secret"), sha256Hex("ak_b_secret"))), 0o600))
	up := newUpstream(t, nil)
	gw := startCaddy(t, gatewaySite(up.hostPort(), "\t\t\tjwks_file "+writeJWKS(t, keyA, keyB)+"\n\t\t\tapi_keys "+apiKeys))
	cases := []struct {
		name   string
		key    *testKey
		noKid  bool
		apiKey []string
		status int
		reason string
	}{
		{"A with A's API key", keyA, false, []string{"ak_a_secret"}, 200, ""},
		{"A without kid, A's API key", keyA, true, []string{"ak_a_secret"}, 200, ""},
		{"B with B's API key", keyB, false, []string{"ak_b_secret"}, 200, ""},
		{"A's key with B's API key", keyA, false, []string{"ak_b_secret"}, 401, "is not registered for this X-Api-Key"},
		{"A's key without kid, B's API key", keyA, true, []string{"ak_b_secret"}, 401, "none of the 1 keys"},
		{"no API key", keyA, false, nil, 401, "X-Api-Key header is missing"},
		{"unknown API key", keyA, false, []string{"ak_guess"}, 401, "X-Api-Key is not registered"},
		{"API key repeated", keyA, false, []string{"ak_a_secret", "ak_b_secret"}, 401, "repeated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up.reset()
			var headers []string
			for _, k := range tc.apiKey {
				headers = append(headers, "X-Api-Key", k)
			}
			resp := gw.post(t, testPath, tc.key.sign(t, validClaims(validBody), tc.noKid), validBody, headers...)
			if tc.status == http.StatusOK {
				if got := statusOf(t, resp); got != 200 {
					t.Fatalf("got %d", got)
				}
				if got := up.received(); len(got) != 1 || got[0].header.Get(keyIDHeader) != tc.key.kid {
					t.Fatal("not forwarded with the tenant's kid")
				}
				return
			}
			env := decodedEnvelope(t, resp)
			if resp.StatusCode != tc.status || env.Type != envelope.TypeUnauthorized || !strings.Contains(env.Detail, tc.reason) {
				t.Fatalf("got %d %s %q", resp.StatusCode, env.Type, env.Detail)
			}
			if strings.Contains(env.Detail, "ak_") {
				t.Error("the Detail echoes the API key")
			}
			if len(up.received()) != 0 {
				t.Fatal("the upstream received a refused request")
			}
		})
	}
	if strings.Contains(gw.logs(t), "ak_a_secret") || strings.Contains(gw.logs(t), "ak_b_secret") {
		t.Error("the logs carry an API key")
	}
}

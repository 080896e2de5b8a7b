package caddymodule

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestRefusedRequestKeepsItsSignature: replay protection uses a signature
// up only once the request passed every check, so a request refused for its
// body or media type can be sent again, corrected, with the same token.
func TestRefusedRequestKeepsItsSignature(t *testing.T) {
	for name, option := range replayStoreOptions {
		t.Run(name, func(t *testing.T) {
			f := replayFixture(t, option(t))
			tok := f.k384.sign(t, validClaims(validBody), false)
			if got := statusOf(t, f.gw.post(t, testPath, tok, strings.Replace(validBody, "Quintessa", "Quintessb", 1))); got != http.StatusUnauthorized {
				t.Fatalf("other body: got %d, want 401", got)
			}
			if got := statusOf(t, f.gw.post(t, testPath, tok, validBody, "Content-Type", "text/plain")); got != http.StatusUnsupportedMediaType {
				t.Fatalf("two Content-Types: got %d, want 415", got)
			}
			if got := statusOf(t, f.gw.post(t, testPath, tok, validBody)); got != http.StatusOK {
				t.Fatalf("the corrected request got %d, want 200: a refusal used the signature up", got)
			}

			invalid := `{"CustomerID":""}`
			badTok := f.k384.sign(t, validClaims(invalid), false)
			for i := range 2 {
				resp := f.gw.post(t, testPath, badTok, invalid)
				env := decodedEnvelope(t, resp)
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(env.Detail, "invalid propert") {
					t.Fatalf("schema refusal %d: got %d %q, want 400 for the schema, not a replay", i, resp.StatusCode, env.Detail)
				}
			}
			if n := len(f.up.received()); n != 1 {
				t.Fatalf("the upstream saw %d requests, want 1", n)
			}
		})
	}
}

// TestMaxKeyAttemptsBoundary: a token without kid is tried against up to
// max_key_attempts keys, each of them, and refused when more keys serve its
// alg.
func TestMaxKeyAttemptsBoundary(t *testing.T) {
	const attempts = 3
	keys := make([]*testKey, attempts+1)
	for i := range keys {
		keys[i] = newTestKey(t, fmt.Sprintf("k%d", i), "ES256")
	}
	up := newUpstream(t, nil)
	start := func(t *testing.T, trusted []*testKey) *gateway {
		return startCaddy(t, gatewaySite(up.hostPort(), fmt.Sprintf("\t\t\tjwks_file %s\n\t\t\tmax_key_attempts %d\n", writeJWKS(t, trusted...), attempts)))
	}
	t.Run("exactly max_key_attempts keys: each one verifies", func(t *testing.T) {
		gw := start(t, keys[:attempts])
		for _, k := range keys[:attempts] {
			// Each key signs twice, so that it is tried both after the
			// others and, once it has verified, first.
			for range 2 {
				resp := gw.post(t, testPath, k.sign(t, validClaims(validBody), true), validBody)
				if resp.StatusCode != http.StatusOK {
					env := decodedEnvelope(t, resp)
					t.Fatalf("key %s of %d: got %d %q", k.kid, attempts, resp.StatusCode, env.Detail)
				}
				resp.Body.Close()
			}
		}
	})
	t.Run("one key more: refused, asking for the kid", func(t *testing.T) {
		gw := start(t, keys)
		resp := gw.post(t, testPath, keys[0].sign(t, validClaims(validBody), true), validBody)
		env := decodedEnvelope(t, resp)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(env.Detail, fmt.Sprintf("%d keys serve alg ES256, more than the %d that are tried", attempts+1, attempts)) {
			t.Fatalf("got %d %q", resp.StatusCode, env.Detail)
		}
	})
}

package caddymodule

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// TestAccepted sends valid requests in every form the contract allows and
// checks that the upstream received exactly what the client sent.
func TestAccepted(t *testing.T) {
	f := newVerdictFixture(t, "")
	// Dates are taken when each case signs: the margins of a second or two
	// must hold however long earlier cases took.
	now := func() float64 { return float64(time.Now().Unix()) }
	type acceptedCase struct {
		name    string
		key     *testKey
		noKid   bool
		query   string
		body    string
		edit    func(c map[string]any)
		chunked bool
		// contentType defaults to application/json; charset=utf-8.
		contentType string
	}
	cases := []acceptedCase{
		{name: "ES384 with kid", key: f.k384},
		{name: "ES256 with kid", key: f.k256},
		{name: "ES384 without kid", key: f.k384, noKid: true},
		{name: "ES256 without kid", key: f.k256, noKid: true},
		{name: "aud as an array", key: f.k384, edit: func(c map[string]any) { c["aud"] = []string{"https://other.example", "https://api.noah.com"} }},
		{name: "fractional dates", key: f.k384, edit: func(c map[string]any) { n := now(); c["iat"], c["exp"] = n-0.25, n+299.75 }},
		{name: "lifetime exactly at the limit", key: f.k384, edit: func(c map[string]any) { n := now(); c["iat"], c["exp"] = n-30, n+870 }},
		{name: "expired but within the skew", key: f.k384, edit: func(c map[string]any) { n := now(); c["iat"], c["exp"] = n-300, n-58 }},
		{name: "iat ahead but within the skew", key: f.k384, edit: func(c map[string]any) { n := now(); c["iat"], c["exp"] = n+58, n+300 }},
		{name: "nbf within the skew", key: f.k384, edit: func(c map[string]any) { n := now(); c["nbf"] = n + 30 }},
		{name: "query as a string for a single name and an array for a repeated one", key: f.k384, query: "?mode=test&tag=a&tag=b",
			edit: func(c map[string]any) { c["queryParams"] = map[string]any{"mode": "test", "tag": []string{"a", "b"}} }},
		{name: "query as arrays in order", key: f.k384, query: "?tag=a&tag=b&n=1",
			edit: func(c map[string]any) {
				c["queryParams"] = map[string]any{"tag": []string{"a", "b"}, "n": []string{"1"}}
			}},
		{name: "query number and boolean as text", key: f.k384, query: "?n=10&live=true",
			edit: func(c map[string]any) { c["queryParams"] = map[string]any{"n": 10, "live": true} }},
		{name: "empty queryParams without a query", key: f.k384, edit: func(c map[string]any) { c["queryParams"] = map[string]any{} }},
		{name: "chunked body", key: f.k384, chunked: true},
		{name: "pretty-printed body signed as sent", key: f.k256, body: prettyBody(t)},
		{name: "minimal body", key: f.k256, body: `{"CustomerID":"c-1"}`},
		{name: "Content-Type without charset", key: f.k384, contentType: "application/json"},
		{name: "Content-Type charset in upper case", key: f.k384, contentType: "Application/JSON;charset=UTF-8"},
		{name: "Content-Type charset quoted", key: f.k384, contentType: `application/json; charset="utf-8"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.up.reset()
			body := tc.body
			if body == "" {
				body = validBody
			}
			claims := validClaims(body)
			if tc.edit != nil {
				tc.edit(claims)
			}
			tok := tc.key.sign(t, claims, tc.noKid)
			var reader io.Reader = strings.NewReader(body)
			if tc.chunked {
				reader = io.MultiReader(reader)
			}
			req, err := http.NewRequest(http.MethodPost, f.gw.url+testPath+tc.query, reader)
			must(t, err)
			contentType := cmp.Or(tc.contentType, "application/json; charset=utf-8")
			req.Header.Set("Content-Type", contentType)
			req.Header.Set("Api-Signature", tok)
			req.Header.Set("X-Api-Key", "ak_live_visible_to_upstream")
			req.Header.Set("X-Checkout-Key-ID", "forged-by-client")
			resp := do(t, req)
			defer resp.Body.Close()
			answer, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, answer)
			}
			if !strings.Contains(string(answer), "HostedURL") {
				t.Errorf("answer %s is not the upstream's", answer)
			}
			got := f.up.received()
			if len(got) != 1 {
				t.Fatalf("upstream received %d requests, want 1", len(got))
			}
			r := got[0]
			if !bytes.Equal(r.body, []byte(body)) {
				t.Errorf("upstream body differs from the client's:\n got %q\nwant %q", r.body, body)
			}
			if r.length != int64(len(body)) {
				t.Errorf("upstream Content-Length = %d, want %d", r.length, len(body))
			}
			if r.uri != testPath+tc.query {
				t.Errorf("upstream URI = %q", r.uri)
			}
			if r.header.Get("Api-Signature") != tok {
				t.Error("Api-Signature was changed on the way")
			}
			if r.header.Get("X-Api-Key") != "ak_live_visible_to_upstream" {
				t.Error("X-Api-Key was changed on the way")
			}
			if ids := r.header.Values("X-Checkout-Key-ID"); len(ids) != 1 || ids[0] != tc.key.kid {
				t.Errorf("X-Checkout-Key-ID = %q, want only %q", ids, tc.key.kid)
			}
			if r.header.Get("Content-Type") != contentType {
				t.Errorf("Content-Type = %q", r.header.Get("Content-Type"))
			}
		})
	}
}

func prettyBody(t *testing.T) string {
	var out bytes.Buffer
	must(t, json.Indent(&out, []byte(validBody), "", "    "))
	return out.String()
}

// TestAcceptsIndependentSigner checks interoperability: a token made by
// jwx's own JWT builder, not by the test's raw signer, is accepted.
func TestAcceptsIndependentSigner(t *testing.T) {
	f := newVerdictFixture(t, "")
	for _, key := range []*testKey{f.k384, f.k256} {
		t.Run(key.alg, func(t *testing.T) {
			priv, err := jwk.Import(key.priv)
			must(t, err)
			must(t, priv.Set(jwk.KeyIDKey, key.kid))
			now := time.Now()
			tok, err := jwt.NewBuilder().
				Audience([]string{"https://api.noah.com"}).
				IssuedAt(now).
				Expiration(now.Add(5*time.Minute)).
				Claim("method", "POST").
				Claim("path", testPath).
				Claim("bodyHash", bodyHash(validBody)).
				Build()
			must(t, err)
			alg, _ := jwa.LookupSignatureAlgorithm(key.alg)
			signed, err := jwt.Sign(tok, jwt.WithKey(alg, priv, jws.WithProtectedHeaders(jwsHeaders(t, key.kid))))
			must(t, err)
			resp := f.gw.post(t, testPath, string(signed), validBody)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
		})
	}
}

func jwsHeaders(t *testing.T, kid string) jws.Headers {
	h := jws.NewHeaders()
	must(t, h.Set(jws.KeyIDKey, kid))
	must(t, h.Set(jws.TypeKey, "JWT"))
	return h
}

// TestUpstreamFailures checks the envelopes for an upstream that cannot be
// reached and one that does not answer in time.
func TestUpstreamFailures(t *testing.T) {
	k := newTestKey(t, "k384", "ES384")
	jwks := writeJWKS(t, k)
	release := make(chan struct{})
	hung := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	closedPort := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	gw := startCaddy(t, fmt.Sprintf(`	handle /down {
		checkout_gateway {
			jwks_file %[1]s
		}
		reverse_proxy %[2]s
	}
	handle /hung {
		checkout_gateway {
			jwks_file %[1]s
		}
		reverse_proxy %[3]s {
			transport http {
				response_header_timeout 500ms
			}
		}
	}`, jwks, closedPort, hung.hostPort()))
	for _, tc := range []struct {
		path   string
		status int
	}{{"/down", http.StatusBadGateway}, {"/hung", http.StatusGatewayTimeout}} {
		t.Run(tc.path, func(t *testing.T) {
			claims := validClaims(validBody)
			claims["path"] = tc.path
			resp := gw.post(t, tc.path, k.sign(t, claims, false), validBody)
			env := decodedEnvelope(t, resp)
			if resp.StatusCode != tc.status || env.Type != envelope.TypeUnexpected {
				t.Fatalf("got %d %s (%s), want %d Unexpected", resp.StatusCode, env.Type, env.Detail, tc.status)
			}
		})
	}
	if n := len(hung.received()); n != 1 {
		t.Errorf("the hung upstream saw %d requests, want exactly 1 (a POST is never retried)", n)
	}
}

package caddymodule

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// BenchmarkOpenAPI measures accepted requests in openapi mode, whole and
// the routing plus parameter checks alone, in ES256 verifications: routing
// and parameters together must stay within 0.02 of one.
func BenchmarkOpenAPI(b *testing.B) {
	key := newTestKey(b, "k256", "ES256")
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	b.Cleanup(cancel)
	g := &Gateway{JWKSFiles: []string{writeJWKS(b, key)}, Algorithms: []string{"ES256"}, OpenAPI: &OpenAPI{File: exampleOpenAPI}}
	must(b, g.Provision(ctx))
	b.Cleanup(func() { _ = g.Cleanup() })
	g.logger = zap.NewNop()
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
		return nil
	})
	for _, tc := range []struct{ name, method, target, body string }{
		{"GET with query", "GET", "/v1/transactions?PageSize=10&SortDirection=ASC&Since=2024-04-16T10:00:00Z", ""},
		{"POST", "POST", "/v1/checkout/manage", validBody},
	} {
		token := key.sign(b, operationClaims(tc.method, tc.target, tc.body), false)
		b.Run("accepted "+tc.name, func(b *testing.B) {
			measureInVerifications(b, "ES256", func() {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
				if tc.body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				req.Header.Set("Api-Signature", token)
				req = caddyhttp.PrepareRequest(req, caddy.NewReplacer(), rec, &caddyhttp.Server{})
				must(b, g.ServeHTTP(rec, req, next))
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			})
		})
		path, rawQuery, _ := strings.Cut(tc.target, "?")
		query, err := url.ParseQuery(rawQuery)
		must(b, err)
		header := http.Header{"Content-Type": {"application/json"}, "Api-Signature": {token}}
		b.Run("route and parameters "+tc.name, func(b *testing.B) {
			measureInVerifications(b, "ES256", func() {
				op, segs, err := g.api.doc.Route(tc.method, path)
				if err != nil {
					b.Fatal(err)
				}
				if fields := op.CheckParameters(segs, query, header); fields != nil {
					b.Fatal(fields)
				}
			})
		})
	}
}

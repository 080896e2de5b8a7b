package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

// The floor is only a fair baseline if it verifies each request's own
// signature and passes on exactly the requests that verify.
func TestFloorVerifiesEachRequestsOwnToken(t *testing.T) {
	for _, c := range []struct {
		alg   string
		curve elliptic.Curve
		hash  crypto.Hash
	}{{"ES256", elliptic.P256(), crypto.SHA256}, {"ES384", elliptic.P384(), crypto.SHA384}} {
		t.Run(c.alg, func(t *testing.T) {
			priv, err := ecdsa.GenerateKey(c.curve, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			f := &Floor{}
			if err := f.UnmarshalCaddyfile(caddyfile.NewTestDispenser("verification_floor " + writeJWKS(t, &priv.PublicKey) + " k")); err != nil {
				t.Fatal(err)
			}
			if err := f.Provision(caddy.Context{}); err != nil {
				t.Fatal(err)
			}
			sign := func(input string) string {
				sig, err := jwsbb.SignECDSA(priv, []byte(input), c.hash, rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				return input + "." + base64.RawURLEncoding.EncodeToString(sig)
			}
			first, second := sign("eyJhIjoxfQ.eyJiIjoxfQ"), sign("eyJhIjoyfQ.eyJiIjoyfQ")
			tests := []struct {
				name   string
				token  string
				passes bool
			}{
				{"a signed request", first, true},
				{"another signed request", second, true},
				{"a signature moved to another input", "eyJhIjoyfQ.eyJiIjoyfQ" + first[len("eyJhIjoxfQ.eyJiIjoxfQ"):], false},
				{"no token", "", false},
				{"a signature too long", first + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", false},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					passed := false
					next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { passed = true; return nil })
					req := httptest.NewRequest(http.MethodPost, "/", nil)
					req.Header.Set("Api-Signature", tc.token)
					err := f.ServeHTTP(httptest.NewRecorder(), req, next)
					if passed != tc.passes || (err == nil) != tc.passes {
						t.Fatalf("passed on = %v (%v), want %v", passed, err, tc.passes)
					}
				})
			}
		})
	}
}

func writeJWKS(t *testing.T, pub *ecdsa.PublicKey) string {
	t.Helper()
	k, err := jwk.Import(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Set(jwk.KeyIDKey, "k"); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(map[string]any{"keys": []any{k}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keys.jwks.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFloorConfig(t *testing.T) {
	tests := []struct {
		input string
		ok    bool
	}{
		{"verification_floor keys.json demo-es256", true},
		{"verification_floor keys.json", false},
		{"verification_floor", false},
		{"verification_floor keys.json demo-es256 extra", false},
	}
	for _, tc := range tests {
		f := &Floor{}
		err := f.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
		if (err == nil) != tc.ok {
			t.Errorf("%q: error %v, want ok=%v", tc.input, err, tc.ok)
		}
	}
	if err := (&Floor{JWKSFile: "../../examples/keys/demo.jwks.json", Kid: "nobody"}).Provision(caddy.Context{}); err == nil {
		t.Error("a kid missing from the key set was provisioned")
	}
}

package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// The floor is only a fair baseline if it really verifies a signature on
// every request and passes the request on.
func TestFloorVerifiesEveryRequest(t *testing.T) {
	for _, alg := range []string{"ES256", "ES384"} {
		t.Run(alg, func(t *testing.T) {
			f := &Floor{}
			if err := f.UnmarshalCaddyfile(caddyfile.NewTestDispenser("verification_floor " + alg)); err != nil {
				t.Fatal(err)
			}
			if err := f.Provision(caddy.Context{}); err != nil {
				t.Fatal(err)
			}
			verifications := 0
			verify := f.verify
			f.verify = func() bool { verifications++; return verify() }
			passed := 0
			next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { passed++; return nil })
			for range 3 {
				if err := f.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil), next); err != nil {
					t.Fatal(err)
				}
			}
			if verifications != 3 || passed != 3 {
				t.Fatalf("%d verifications and %d requests passed on for 3 requests", verifications, passed)
			}
			f.verify = func() bool { return false }
			if err := f.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil), next); err == nil {
				t.Fatal("a failed verification was passed on")
			}
		})
	}
}

func TestFloorConfig(t *testing.T) {
	tests := []struct {
		input string
		ok    bool
	}{
		{"verification_floor ES256", true},
		{"verification_floor ES384", true},
		{"verification_floor", false},
		{"verification_floor ES256 extra", false},
		{"verification_floor RS256", true}, // parses; Provision refuses it
	}
	for _, tc := range tests {
		f := &Floor{}
		err := f.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
		if (err == nil) != tc.ok {
			t.Errorf("%q: error %v, want ok=%v", tc.input, err, tc.ok)
		}
	}
	if err := (&Floor{Alg: "RS256"}).Provision(caddy.Context{}); err == nil {
		t.Error("an algorithm other than ES256 or ES384 was provisioned")
	}
}

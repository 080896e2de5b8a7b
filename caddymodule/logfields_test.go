package caddymodule

import (
	"fmt"
	"net/http"
	"testing"
)

// TestRefusalLinesNameHandlerMethodAndHost: two gateways in one Caddy are
// told apart in the log by their handler label, and each refusal line says
// which method and host it was for.
func TestRefusalLinesNameHandlerMethodAndHost(t *testing.T) {
	up := newUpstream(t, nil)
	k := newTestKey(t, "k384", "ES384")
	jwks := writeJWKS(t, k)
	gw := startCaddy(t, fmt.Sprintf(`	route /checkout/manage {
		checkout_gateway {
			jwks_file %[1]s
			action CreateManagedSession
		}
		reverse_proxy %[2]s
	}
	route /payouts {
		checkout_gateway {
			jwks_file %[1]s
			action CreatePayout
		}
		reverse_proxy %[2]s
	}`, jwks, up.hostPort()))
	for path, handler := range map[string]string{testPath: "CreateManagedSession", "/payouts": "CreatePayout"} {
		req, err := http.NewRequest(http.MethodPost, gw.url+path, nil)
		must(t, err)
		req.Host = "shop.example"
		resp := do(t, req)
		env := decodedEnvelope(t, resp)
		line := lineFor(t, gw, env.Instance)
		for field, want := range map[string]string{"handler": handler, "method": http.MethodPost, "host": "shop.example", "reason": "token_missing"} {
			if line[field] != want {
				t.Errorf("%s: %s = %v, want %s", path, field, line[field], want)
			}
		}
	}
}

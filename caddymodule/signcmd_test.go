package caddymodule

import (
	"bytes"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePrivateJWK writes k's private half as keygen would.
func writePrivateJWK(t *testing.T, k *testKey) string {
	t.Helper()
	priv, err := jwk.Import(k.priv)
	must(t, err)
	must(t, priv.Set(jwk.KeyIDKey, k.kid))
	path := filepath.Join(t.TempDir(), k.kid+".private.jwk.json")
	must(t, writeJSONFile(path, priv, 0o600))
	return path
}

// TestSignFollowsConfig: a token from `sign --config` passes a gateway
// with its own audience, header, lifetime and methods, where one signed
// with the provider's defaults is refused; and sign refuses up front what
// that gateway would refuse.
func TestSignFollowsConfig(t *testing.T) {
	s := startToolSite(t)
	dir := t.TempDir()
	privPath, es256Path, configPath := writePrivateJWK(t, s.k384), writePrivateJWK(t, s.k256), s.configPath
	bodyPath := filepath.Join(dir, "body.json")
	must(t, os.WriteFile(bodyPath, []byte(validBody), 0o600))

	cases := []struct {
		name    string
		opts    signOptions
		want    string // in the output, or in the error when wantErr
		wantErr bool
	}{
		{name: "provider defaults are refused", opts: signOptions{keyPath: privPath}, want: "401 Unauthorized"},
		{name: "with --config", opts: signOptions{keyPath: privPath, config: toolGatewayOptions{configPath: configPath}}, want: "200 OK"},
		{name: "--config with a key the config's algorithms refuse", opts: signOptions{keyPath: es256Path, config: toolGatewayOptions{configPath: configPath}}, wantErr: true, want: `alg "ES256" is not accepted; use one of [ES384]`},
		{name: "--config and a method it does not let through", opts: signOptions{keyPath: privPath, method: "PATCH", config: toolGatewayOptions{configPath: configPath}}, wantErr: true, want: "method PATCH is not allowed here; use POST, PUT"},
		{name: "--route naming no handler", opts: signOptions{keyPath: privPath, config: toolGatewayOptions{configPath: configPath, route: "Refund"}}, wantErr: true, want: `--route "Refund": no checkout_gateway handler in ` + configPath + ` has that action; its actions are: CreateManagedSession`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.target, o.bodyPath, o.send = s.gw.url+testPath, bodyPath, true
			o.method = cmpOrString(o.method, "POST")
			o.headers = []string{"X-Api-Key: ak_a_secret"}
			var out bytes.Buffer
			err := runSign(nil, &out, io.Discard, o, time.Now())
			got := out.String()
			if tc.wantErr {
				if err == nil {
					t.Fatalf("sign succeeded: %s", got)
				}
				got = err.Error()
			} else {
				must(t, err)
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

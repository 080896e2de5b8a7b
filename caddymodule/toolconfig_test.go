package caddymodule

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// toolSite is a gateway with non-default rules everywhere a tool must
// follow them: audience, algorithms, lifetime, header, methods, api_keys.
type toolSite struct {
	gw         *gateway
	configPath string
	k384, k256 *testKey // trusted for tenant ak_a; ES256 is not accepted
	other      *testKey // tenant ak_b's key
}

func startToolSite(t *testing.T) *toolSite {
	t.Helper()
	s := &toolSite{
		k384:  newTestKey(t, "k384", "ES384"),
		k256:  newTestKey(t, "k256", "ES256"),
		other: newTestKey(t, "other", "ES384"),
	}
	dir := t.TempDir()
	apiKeys := filepath.Join(dir, "api-keys.json")
	must(t, os.WriteFile(apiKeys, []byte(fmt.Sprintf(`{%q:["k384","k256"],%q:["other"]}`, sha256Hex("ak_a_secret"), sha256Hex("ak_b_secret"))), 0o600))
	options := strings.Join([]string{
		"jwks_file " + writeJWKS(t, s.k384, s.k256, s.other),
		"api_keys " + apiKeys,
		"audience https://payments.example.com",
		"algorithms ES384",
		"max_token_lifetime 10m",
		"signature_header X-Sig",
		"methods post put",
	}, "\n\t\t\t")
	up := newUpstream(t, nil)
	port := freePort(t)
	text := testCaddyfile("admin off", canaryLogPath(t), port, gatewaySite(up.hostPort(), "\t\t\t"+options))
	// A custom signature_header needs its own line in the log filter.
	text = strings.Replace(text, documentedFilter("\t\t"), documentedFilter("\t\t", "request>headers>X-Sig delete"), 1)
	s.configPath = filepath.Join(dir, "Caddyfile")
	must(t, os.WriteFile(s.configPath, []byte(text), 0o600))
	loadCaddyfile(t, text)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s.gw = &gateway{url: "http://" + addr, addr: addr, port: port}
	return s
}

// TestExplainAgreesWithGateway: for each token, `explain --config` on the
// gateway's own Caddyfile exits non-zero exactly when that gateway refuses
// the request, and the config's keys verify the signature.
func TestExplainAgreesWithGateway(t *testing.T) {
	s := startToolSite(t)
	claims := func(edit func(map[string]any)) map[string]any {
		c := validClaims(validBody)
		c["aud"] = "https://payments.example.com"
		if edit != nil {
			edit(c)
		}
		return c
	}
	now := time.Now().Unix()
	cases := []struct {
		name       string
		key        *testKey
		claims     map[string]any
		method     string
		body       string
		apiKey     string
		wantStatus int
	}{
		{name: "accepted", key: s.k384, claims: claims(nil), wantStatus: 200},
		{name: "provider's default audience", key: s.k384, claims: claims(func(c map[string]any) { c["aud"] = "https://api.noah.com" }), wantStatus: 401},
		{name: "lifetime within the default but over the config's 10m", key: s.k384, claims: claims(func(c map[string]any) { c["exp"] = now + 13*60 }), wantStatus: 401},
		{name: "expired", key: s.k384, claims: claims(func(c map[string]any) { c["iat"], c["exp"] = now-900, now-400 }), wantStatus: 401},
		{name: "ES256, not in the config's algorithms", key: s.k256, claims: claims(nil), wantStatus: 401},
		{name: "forged with a trusted kid", key: &testKey{kid: "k384", alg: "ES384", priv: newTestKey(t, "x", "ES384").priv}, claims: claims(nil), wantStatus: 401},
		{name: "unknown kid", key: newTestKey(t, "stranger", "ES384"), claims: claims(nil), wantStatus: 401},
		{name: "another tenant's key", key: s.other, claims: claims(nil), wantStatus: 401},
		{name: "no X-Api-Key", key: s.k384, claims: claims(nil), apiKey: "-", wantStatus: 401},
		{name: "path not the request's", key: s.k384, claims: claims(func(c map[string]any) { c["path"] = "/elsewhere" }), wantStatus: 401},
		{name: "body changed after signing", key: s.k384, claims: claims(func(c map[string]any) { c["bodyHash"] = bodyHash("{}") }), wantStatus: 401},
		{name: "body fails the schema", key: s.k384, claims: claims(func(c map[string]any) { c["bodyHash"] = bodyHash(`{"x":1}`) }), body: `{"x":1}`, wantStatus: 400},
		{name: "lower-case methods in the config still mean PUT", key: s.k384, claims: claims(func(c map[string]any) { c["method"] = "PUT" }), method: "PUT", wantStatus: 200},
		{name: "method the config does not let through", key: s.k384, claims: claims(func(c map[string]any) { c["method"] = "PATCH" }), method: "PATCH", wantStatus: 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method, body, apiKey := cmpOrString(tc.method, "POST"), cmpOrString(tc.body, validBody), cmpOrString(tc.apiKey, "ak_a_secret")
			token := tc.key.sign(t, tc.claims, false)
			req, err := http.NewRequest(method, s.gw.url+testPath, strings.NewReader(body))
			must(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Sig", token)
			var headers []string
			if apiKey != "-" {
				req.Header.Set("X-Api-Key", apiKey)
				headers = []string{"X-Api-Key:" + apiKey}
			}
			resp := do(t, req)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("gateway answered %d, want %d", resp.StatusCode, tc.wantStatus)
			}

			bodyPath := filepath.Join(t.TempDir(), "body.json")
			must(t, os.WriteFile(bodyPath, []byte(body), 0o600))
			var out, stderr bytes.Buffer
			err = runExplain(t.Context(), nil, &out, &stderr, explainOptions{
				token: token, method: method, target: s.gw.url + testPath, bodyPath: bodyPath, headers: headers,
				config: toolGatewayOptions{configPath: s.configPath},
			})
			if refused := resp.StatusCode != http.StatusOK; refused != (err != nil) {
				t.Fatalf("gateway answered %d but explain returned %v:\n%s%s", resp.StatusCode, err, out.String(), stderr.String())
			}
			if tc.wantStatus == 200 && !strings.Contains(out.String(), `verified with key "k384"`) {
				t.Errorf("explain does not name the key that verified:\n%s", out.String())
			}
		})
	}
}

func cmpOrString(v, fallback string) string {
	if v == "" {
		return fallback
	}
	return v
}

// TestExplainVerifiesWithJWKS: --jwks, a file or a URL fetched once,
// verifies the signature for real and names the key; a key set without the
// signer's key fails the signature, which the default checks alone pass.
func TestExplainVerifiesWithJWKS(t *testing.T) {
	signer := newTestKey(t, "signer", "ES384")
	impostor := &testKey{kid: "signer", alg: "ES384", priv: newTestKey(t, "x", "ES384").priv}
	jwksFile := writeJWKS(t, signer)
	jwksData, err := os.ReadFile(jwksFile)
	must(t, err)
	keyServer := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwksData)
	})
	cases := []struct {
		name, jwks string
		key        *testKey
		wantOK     bool
		want       string
	}{
		{name: "file, right key", jwks: jwksFile, key: signer, wantOK: true, want: `verified with key "signer" (ES384)`},
		{name: "url, right key", jwks: keyServer.URL + "/jwks.json", key: signer, wantOK: true, want: `verified with key "signer" (ES384)`},
		{name: "file, forged signature", jwks: jwksFile, key: impostor, want: `the signature does not verify with key "signer"`},
		{name: "url, forged signature", jwks: keyServer.URL + "/jwks.json", key: impostor, want: `the signature does not verify with key "signer"`},
		{name: "plain http key URL off loopback", jwks: "http://keys.example.com/jwks.json", key: signer, want: "plain http is allowed only to loopback"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runExplain(t.Context(), nil, &out, io.Discard, explainOptions{
				token: tc.key.sign(t, validClaims(validBody), false), method: "POST", target: "http://127.0.0.1" + testPath,
				config: toolGatewayOptions{jwks: tc.jwks},
			})
			if (err == nil) != tc.wantOK {
				t.Fatalf("explain returned %v:\n%s", err, out.String())
			}
			if got := out.String() + fmt.Sprint(err); !strings.Contains(got, tc.want) {
				t.Errorf("explain said %q, want %q", got, tc.want)
			}
		})
	}
}

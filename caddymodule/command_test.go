package caddymodule

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/checkoutgw/checkoutgw/keyring"
	"github.com/checkoutgw/checkoutgw/signedrequest"
)

// TestKeygenSignRoundTrip: keygen's public set is a valid gateway key set,
// and a request signed and sent by `sign` passes the gateway.
func TestKeygenSignRoundTrip(t *testing.T) {
	for _, alg := range []string{"ES384", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			dir := t.TempDir()
			privPath, pubPath, err := generateKeyPair(alg, "", dir, false, time.Now())
			must(t, err)
			if info, err := os.Stat(privPath); err != nil || info.Mode().Perm() != 0o600 {
				t.Fatalf("private key mode: %v %v", info.Mode(), err)
			}
			if _, _, err := generateKeyPair(alg, strings.TrimSuffix(filepath.Base(privPath), ".private.jwk.json"), dir, false, time.Now()); err == nil || !strings.Contains(err.Error(), "--force") {
				t.Fatalf("overwrote without --force: %v", err)
			}
			pubData, err := os.ReadFile(pubPath)
			must(t, err)
			parsed, skipped, err := keyring.ParseJWKS(pubData, []string{alg})
			if err != nil || len(parsed) != 1 || len(skipped) != 0 {
				t.Fatalf("keygen's set: %d keys, %v skipped, %v", len(parsed), skipped, err)
			}

			up := newUpstream(t, nil)
			gw := startCaddy(t, gatewaySite(up.hostPort(), "\t\t\tjwks_file "+pubPath+"\n\t\t\talgorithms "+alg))
			bodyPath := filepath.Join(dir, "body.json")
			must(t, os.WriteFile(bodyPath, []byte(validBody), 0o600))
			var out bytes.Buffer
			err = runSign(nil, &out, io.Discard, signOptions{keyPath: privPath, target: gw.url + testPath + "?mode=test&tag=a&tag=b", method: "POST", bodyPath: bodyPath, send: true, headers: []string{"X-Api-Key: ak_test"}}, time.Now())
			must(t, err)
			if !strings.HasPrefix(out.String(), "200 OK") || !strings.Contains(out.String(), "HostedURL") {
				t.Fatalf("sign --send printed %q", out.String())
			}
			if got := up.received(); len(got) != 1 || got[0].header.Get("X-Api-Key") != "ak_test" {
				t.Fatalf("upstream saw %d requests", len(got))
			}
		})
	}
}

// TestExplainIndependentToken: a token made by jwx directly is accepted by
// the gateway and explained as passing every check.
func TestExplainIndependentToken(t *testing.T) {
	f := newVerdictFixture(t, "")
	priv, err := jwk.Import(f.k384.priv)
	must(t, err)
	must(t, priv.Set(jwk.KeyIDKey, f.k384.kid))
	now := time.Now()
	tok, err := jwt.NewBuilder().Audience([]string{"https://api.noah.com"}).IssuedAt(now).Expiration(now.Add(2*time.Minute)).
		Claim("method", "POST").Claim("path", testPath).Claim("queryParams", map[string]any{"a": "1"}).Claim("bodyHash", bodyHash(validBody)).Build()
	must(t, err)
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES384(), priv))
	must(t, err)
	resp := f.gw.post(t, testPath+"?a=1", string(signed), validBody)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("gateway answered %d", resp.StatusCode)
	}
	target, _ := url.Parse(f.gw.url + testPath + "?a=1")
	for _, finding := range signedrequest.Explain(string(signed), "POST", target, []byte(validBody), time.Now()) {
		if !finding.OK {
			t.Errorf("explain fails %s: %s", finding.Check, finding.Detail)
		}
	}
}

// TestExplainNamesCommonMistakes: for each mistake in the README's
// troubleshooting section, explain names the failing check.
func TestExplainNamesCommonMistakes(t *testing.T) {
	k := newTestKey(t, "k", "ES384")
	target, _ := url.Parse("https://api.example.com/v1/checkout/manage")
	good := validClaims(validBody)
	good["path"] = "/v1/checkout/manage"
	edit := func(change func(c map[string]any)) string {
		c := map[string]any{}
		for name, v := range good {
			c[name] = v
		}
		change(c)
		return k.sign(t, c, false)
	}
	now := time.Now()
	cases := []struct {
		name      string
		token     string
		target    *url.URL
		body      string
		wantCheck string
		wantWords string
	}{
		{"body re-serialised after signing", edit(func(map[string]any) {}), target, prettyBody(t), "bodyHash", "re-serialised"},
		{"path without its /v1 prefix", edit(func(c map[string]any) { c["path"] = "/checkout/manage" }), target, validBody, "path", `the claim is "/checkout/manage"`},
		{"query not signed", edit(func(map[string]any) {}), mustURL(t, target.String()+"?mode=test"), validBody, "queryParams", "no queryParams claim"},
		{"clock behind", edit(func(c map[string]any) { c["iat"], c["exp"] = now.Unix()-900, now.Unix()-600 }), target, validBody, "iat, exp, nbf", "token expired"},
		{"clock ahead", edit(func(c map[string]any) { c["iat"], c["exp"] = now.Unix()+300, now.Unix()+600 }), target, validBody, "iat, exp, nbf", "in the future"},
		{"DER signature", derToken(t, edit(func(map[string]any) {})), target, validBody, "signature encoding", "looks DER-encoded"},
		{"wrong method", edit(func(c map[string]any) { c["method"] = "GET" }), target, validBody, "method", `the claim is "GET"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var failed []signedrequest.Finding
			for _, f := range signedrequest.Explain(tc.token, "POST", tc.target, []byte(tc.body), now) {
				if !f.OK {
					failed = append(failed, f)
				}
			}
			if len(failed) != 1 || failed[0].Check != tc.wantCheck || !strings.Contains(failed[0].Detail, tc.wantWords) {
				t.Fatalf("failed checks %+v, want only %s saying %q", failed, tc.wantCheck, tc.wantWords)
			}
		})
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	must(t, err)
	return u
}

func derToken(t *testing.T, tok string) string {
	i := strings.LastIndex(tok, ".")
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	must(t, err)
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(derSignature(sig))
}

func TestRequestClaimsFollowTheProvidersRules(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	target, _ := url.Parse("https://api.noah.com/v1/checkout/manage?b=2&a=1&a=3")
	claims, err := signedrequest.RequestClaims("POST", target, []byte(validBody), now)
	must(t, err)
	got, _ := json.Marshal(claims)
	want := `{"aud":"https://api.noah.com","bodyHash":"` + bodyHash(validBody) + `","exp":1800000300,"iat":1800000000,"method":"POST","path":"/v1/checkout/manage","queryParams":{"a":["1","3"],"b":"2"}}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	empty, err := signedrequest.RequestClaims("POST", target, nil, now)
	must(t, err)
	if _, has := empty["bodyHash"]; has {
		t.Error("bodyHash set for an empty body")
	}
}

package caddymodule

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	full := `checkout_gateway {
		jwks_file a.json
		jwks_file b.json
		audience https://api.example.com
		algorithms ES256
		max_token_lifetime 5m
		clock_skew 30s
		signature_header X-Signature
		methods POST PUT
		schema create_managed_session
		action CreateManagedSession
		max_body_size 32KiB
		body_read_timeout 3s
		max_key_attempts 2
	}`
	var g Gateway
	must(t, g.UnmarshalCaddyfile(caddyfile.NewTestDispenser(full)))
	want := Gateway{
		JWKSFiles: []string{"a.json", "b.json"}, Audience: "https://api.example.com", Algorithms: []string{"ES256"},
		MaxTokenLifetime: caddy.Duration(5 * time.Minute), ClockSkew: caddy.Duration(30 * time.Second),
		SignatureHeader: "X-Signature", Methods: []string{"POST", "PUT"}, Schema: "create_managed_session",
		Action: "CreateManagedSession", MaxBodySize: 32 << 10, BodyReadTimeout: caddy.Duration(3 * time.Second), MaxKeyAttempts: 2,
	}
	gotJSON, _ := json.Marshal(&g)
	wantJSON, _ := json.Marshal(&want)
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("got  %s\nwant %s", gotJSON, wantJSON)
	}

	errorCases := map[string]string{
		"unknown option":        "checkout_gateway {\n jwks_files a.json\n}",
		"duplicate option":      "checkout_gateway {\n audience a\n audience b\n}",
		"missing argument":      "checkout_gateway {\n audience\n}",
		"extra argument":        "checkout_gateway {\n clock_skew 1s 2s\n}",
		"argument on directive": "checkout_gateway extra {\n}",
		"nested block":          "checkout_gateway {\n audience a {\n  x\n }\n}",
		"bad duration":          "checkout_gateway {\n clock_skew soon\n}",
		"negative duration":     "checkout_gateway {\n clock_skew -1s\n}",
		"bad size":              "checkout_gateway {\n max_body_size lots\n}",
		"zero key attempts":     "checkout_gateway {\n max_key_attempts 0\n}",
		"empty algorithms":      "checkout_gateway {\n algorithms\n}",
	}
	optionNamed := map[string]string{
		"unknown option": "jwks_files", "duplicate option": "audience", "missing argument": "audience",
		"extra argument": "clock_skew", "nested block": "audience", "bad duration": "clock_skew",
		"negative duration": "clock_skew", "bad size": "max_body_size", "zero key attempts": "max_key_attempts",
		"empty algorithms": "algorithms", "argument on directive": "",
	}
	for name, input := range errorCases {
		t.Run(name, func(t *testing.T) {
			var g Gateway
			err := g.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), optionNamed[name]) {
				t.Errorf("error %q does not name %q", err, optionNamed[name])
			}
		})
	}
}

// TestValidateConfig runs what `caddy validate` runs on whole Caddyfiles and
// checks that each broken one is refused with a message naming the problem.
func TestValidateConfig(t *testing.T) {
	dir := t.TempDir()
	good := writeJWKS(t, newTestKey(t, "k1", "ES384"))
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	hmacOnly := write("hmac.json", `{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`)
	es256Only := writeJWKS(t, newTestKey(t, "k2", "ES256"))
	dupKid := writeJWKS(t, newTestKey(t, "same", "ES384"), newTestKey(t, "same", "ES384"))
	badSchema := write("bad-schema.json", `{"type":"object","properties":{"a":{"type":"strin"}}}`)
	remoteSchema := write("remote-schema.json", `{"$ref":"https://schemas.example.com/x.json"}`)
	notJSON := write("garbage.json", `this is not json`)
	cases := []struct {
		name    string
		options string
		want    string // empty: valid
	}{
		{"valid", "jwks_file " + good, ""},
		{"valid schema file", "jwks_file " + good + "\nschema " + write("ok-schema.json", `{"type":"object"}`), ""},
		{"no key source", "audience x", "no key source"},
		{"unreadable key file", "jwks_file " + filepath.Join(dir, "missing.json"), "jwks_file"},
		{"key file not JSON", "jwks_file " + notJSON, "parsing JWK set"},
		{"key set without a usable key", "jwks_file " + hmacOnly, "no usable signing key"},
		{"key set only for another algorithm", "jwks_file " + es256Only + "\nalgorithms ES384", "no usable signing key"},
		{"duplicate kid", "jwks_file " + dupKid, `two keys have kid "same"`},
		{"duplicate kid across files", "jwks_file " + good + "\njwks_file " + writeJWKS(t, newTestKey(t, "k1", "ES384")), `two keys have kid "k1"`},
		{"same key file twice", "jwks_file " + good + "\njwks_file " + good, "jwks_file " + good + ": listed more than once"},
		{"private JWK as a key set", "jwks_file " + write("private.jwk.json", `{"kty":"EC","crv":"P-384","kid":"p","d":"AAAA","x":"AAAA","y":"AAAA"}`), "this is a private key, not a set of public keys"},
		{"public JWK as a key set", "jwks_file " + write("public.jwk.json", `{"kty":"EC","crv":"P-384","kid":"p","x":"AAAA","y":"AAAA"}`), `wrap it as {"keys": [<the key>]}`},
		{"key set holding only a private key", "jwks_file " + write("private.jwks.json", `{"keys":[{"kty":"EC","crv":"P-256","kid":"priv","d":"AAAA","x":"AAAA","y":"AAAA"}]}`), `no usable signing key for algorithms ES384, ES256: key 0 (kid "priv")`},
		{"api_keys as an array", "jwks_file " + good + "\napi_keys " + write("array.json", `["`+strings.Repeat("ab", 32)+`"]`), "found array where the object belongs"},
		{"api_keys with a kid as a string", "jwks_file " + good + "\napi_keys " + write("string.json", `{"`+strings.Repeat("ab", 32)+`":"k1"}`), "found string where a list of kids belongs"},
		{"unknown algorithm", "jwks_file " + good + "\nalgorithms ES384 XS999", `"XS999" is not a supported`},
		{"HMAC algorithm", "jwks_file " + good + "\nalgorithms HS256", `"HS256" is not a supported`},
		{"none algorithm", "jwks_file " + good + "\nalgorithms none", `"none" is not a supported`},
		{"unknown schema", "jwks_file " + good + "\nschema create_session", "neither a built-in schema"},
		{"missing schema file", "jwks_file " + good + "\nschema ./nope.json", "reading schema file"},
		{"schema that does not compile", "jwks_file " + good + "\nschema " + badSchema, "compiling"},
		{"schema with a remote reference", "jwks_file " + good + "\nschema " + remoteSchema, "external references are not loaded"},
		{"duplicate option", "jwks_file " + good + "\naudience a\naudience b", "audience: option given more than once"},
		{"jwks_url alone", "jwks_url http://127.0.0.1:1/jwks.json {\nrefresh 1m\ntimeout 2s\n}", ""},
		{"jwks_url over plain http", "jwks_url http://keys.example.com/jwks.json", "plain http is allowed only to loopback"},
		{"jwks_url relative", "jwks_url /jwks.json", "not an absolute URL"},
		{"jwks_url refresh under a second", "jwks_url https://k.example.com/j {\nrefresh 10ms\n}", "must be at least 1s"},
		{"jwks_url unknown option", "jwks_url https://k.example.com/j {\ncache 1m\n}", `jwks_url: unknown option "cache"`},
		{"api_keys valid", "jwks_file " + good + "\napi_keys " + write("tenants.json", `{"`+strings.Repeat("ab", 32)+`":["k1"]}`), ""},
		{"api_keys missing file", "jwks_file " + good + "\napi_keys " + filepath.Join(dir, "none.json"), "api_keys"},
		{"api_keys holding a raw key", "jwks_file " + good + "\napi_keys " + write("raw.json", `{"ak_live_123":["k1"]}`), "lowercase hex SHA-256"},
		{"api_keys without kids", "jwks_file " + good + "\napi_keys " + write("nokids.json", `{"`+strings.Repeat("ab", 32)+`":[]}`), "at least one kid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := validateCaddyfile(fmt.Sprintf(":0 {\n\tcheckout_gateway {\n%s\n\t}\n}\n", tc.options))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatal("accepted")
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// validateCaddyfile adapts and validates like `caddy validate`.
func validateCaddyfile(text string) error {
	cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(text), nil)
	if err != nil {
		return err
	}
	var cfg caddy.Config
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return err
	}
	return caddy.Validate(&cfg)
}

// TestCaddyfileOptionsListed holds the option list that unknown-option
// errors quote, the syntax in UnmarshalCaddyfile's comment and the parser to
// one set of names.
func TestCaddyfileOptionsListed(t *testing.T) {
	source, err := os.ReadFile("caddyfile.go")
	must(t, err)
	syntax := regexp.MustCompile(`(?m)^//\t\t([a-z_]+)\s`).FindAllStringSubmatch(string(source), -1)
	var documented []string
	for _, m := range syntax {
		documented = append(documented, m[1])
	}
	slices.Sort(documented)
	listed := slices.Sorted(slices.Values(caddyfileOptions))
	if !slices.Equal(slices.Compact(documented), listed) {
		t.Errorf("documented options %v differ from the listed ones %v", documented, listed)
	}
	for _, option := range caddyfileOptions {
		var g Gateway
		err := g.UnmarshalCaddyfile(caddyfile.NewTestDispenser("checkout_gateway {\n " + option + "\n}"))
		if err != nil && strings.Contains(err.Error(), "unknown option") {
			t.Errorf("listed option %s is unknown to the parser", option)
		}
	}
}

func TestConfigErrorsSayTheFix(t *testing.T) {
	cases := map[string]string{
		"checkout_gateway {\n jwks_files a.json\n}":                           `unknown option "jwks_files" (did you mean jwks_file?); the options are jwks_file, jwks_url,`,
		"checkout_gateway {\n max_token_lifetim 1m\n}":                        "(did you mean max_token_lifetime?)",
		"checkout_gateway {\n frobnicate 1\n}":                                `unknown option "frobnicate"; the options are`,
		"checkout_gateway {\n max_token_lifetime 15min\n}":                    `"15min" is not a duration between 0 and 24h; write it like 90s, 15m or 1h30m`,
		"checkout_gateway {\n jwks_url https://k.test/j {\n refesh 1m\n }\n}": `jwks_url: unknown option "refesh" (did you mean refresh?)`,
	}
	for input, want := range cases {
		var g Gateway
		err := g.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v does not say %q", input, err, want)
		}
	}
}

func TestMethodsAreUpperCased(t *testing.T) {
	g := Gateway{Methods: []string{"post", "Put"}}
	g.applyDefaults()
	if !slices.Equal(g.Methods, []string{"POST", "PUT"}) {
		t.Fatalf("methods = %v", g.Methods)
	}
}

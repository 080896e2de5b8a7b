package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// examplesPrefix is where the example Caddyfiles put the operator's files;
// the tests rewrite it to a directory they fill.
const examplesPrefix = "/etc/checkoutgw/"

// exampleConfig is one examples/*.Caddyfile made runnable here: its files
// generated under a temporary directory, its key URL and Redis pointed at
// loopback servers.
type exampleConfig struct {
	name, text, path string
}

func loadExamples(t *testing.T) []exampleConfig {
	t.Helper()
	paths, err := filepath.Glob("../examples/*.Caddyfile")
	must(t, err)
	if len(paths) < 5 {
		t.Fatalf("%d example Caddyfiles, want one per deployment", len(paths))
	}
	key := newTestKey(t, "example-key", "ES384")
	jwks, err := os.ReadFile(writeJWKS(t, key))
	must(t, err)
	keyServer := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	})
	t.Setenv("CHECKOUT_REDIS_PASSWORD", "example-password")
	rewrite := strings.NewReplacer(
		"https://keys.example.com/", keyServer.URL+"/",
		"10.0.0.5:6379", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
	)
	var out []exampleConfig
	for _, p := range paths {
		data, err := os.ReadFile(p)
		must(t, err)
		dir := t.TempDir()
		text := rewrite.Replace(strings.ReplaceAll(string(data), examplesPrefix, dir+"/"))
		for _, file := range regexp.MustCompile(regexp.QuoteMeta(dir)+`/\S+`).FindAllString(text, -1) {
			must(t, os.MkdirAll(filepath.Dir(file), 0o755))
			content := jwks
			if strings.HasSuffix(file, "api-keys.json") {
				content = []byte(fmt.Sprintf(`{%q:[%q]}`, sha256Hex("ak_example"), key.kid))
			}
			must(t, os.WriteFile(file, content, 0o600))
		}
		path := filepath.Join(dir, filepath.Base(p))
		must(t, os.WriteFile(path, []byte(text), 0o600))
		out = append(out, exampleConfig{name: filepath.Base(p), text: text, path: path})
	}
	return out
}

// TestExamplesValidate runs each example through what `caddy validate`
// does (adapt, provision every module, clean up) with the files it names,
// and checks that every log it defines deletes the secret headers.
func TestExamplesValidate(t *testing.T) {
	for _, ex := range loadExamples(t) {
		t.Run(ex.name, func(t *testing.T) {
			adapted, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(ex.text), map[string]any{"filename": ex.path})
			must(t, err)
			for _, w := range warnings {
				t.Errorf("warning: %s", w.String())
			}
			var cfg caddy.Config
			must(t, json.Unmarshal(adapted, &cfg))
			if err := caddy.Validate(&cfg); err != nil {
				t.Fatalf("caddy validate: %v", err)
			}
			for _, field := range []string{`"request\u003eheaders\u003eApi-Signature":{"filter":"delete"}`, `"request\u003eheaders\u003eX-Api-Key":{"filter":"delete"}`} {
				if !bytes.Contains(adapted, []byte(field)) {
					t.Errorf("the log filter does not delete %s", field)
				}
			}
			if strings.Contains(ex.text, "examples/keys/") {
				t.Errorf("trusts the demo keys, whose private halves are published")
			}
		})
	}
}

// TestExamplesHaveAdaptFixtures: each example has an adapt fixture whose
// Caddyfile is the example itself, so TestAdaptFixtures pins its JSON.
func TestExamplesHaveAdaptFixtures(t *testing.T) {
	paths, err := filepath.Glob("../examples/*.Caddyfile")
	must(t, err)
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			example, err := os.ReadFile(p)
			must(t, err)
			fixture, err := os.ReadFile(filepath.Join("testdata", "example-"+strings.TrimSuffix(filepath.Base(p), ".Caddyfile")+".caddyfiletest"))
			must(t, err)
			if !bytes.HasPrefix(fixture, append(example, "----------\n"...)) {
				t.Errorf("the fixture's Caddyfile is not %s; copy it and run go test -run TestAdaptFixtures -update", p)
			}
		})
	}
}

// TestExplainPicksARoute: with several gateways in the config, explain
// asks for --route and lists the actions, and --route picks that gateway's
// rules (here the sandbox's audience).
func TestExplainPicksARoute(t *testing.T) {
	var routes exampleConfig
	for _, ex := range loadExamples(t) {
		if ex.name == "several-routes.Caddyfile" {
			routes = ex
		}
	}
	token := newTestKey(t, "example-key", "ES384").sign(t, validClaims(validBody), false)
	cases := []struct{ name, route, want string }{
		{name: "no --route", want: "has 2 checkout_gateway handlers (actions: CreateManagedSession, SandboxCreateManagedSession); pick one with --route ACTION"},
		{name: "unknown --route", route: "Refund", want: "its actions are: CreateManagedSession, SandboxCreateManagedSession"},
		{name: "--route picks the sandbox", route: "SandboxCreateManagedSession", want: "aud must contain https://payments.example.com/sandbox"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runExplain(t.Context(), nil, &out, io.Discard, explainOptions{token: token, config: toolGatewayOptions{configPath: routes.path, route: tc.route}})
			if err == nil {
				t.Fatalf("explain passed:\n%s", out.String())
			}
			if got := out.String() + err.Error(); !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

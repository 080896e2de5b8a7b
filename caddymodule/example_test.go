package caddymodule

import (
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// TestExampleCaddyfile runs the repository's own Caddyfile, moved to free
// ports, and sends it a request signed with the demo key: what a newcomer
// does first must work.
func TestExampleCaddyfile(t *testing.T) {
	t.Chdir("..")
	text, err := os.ReadFile("Caddyfile")
	must(t, err)
	gatewayPort, sandboxPort := freePort(t), freePort(t)
	moved := strings.NewReplacer(":8080", fmt.Sprintf(":%d", gatewayPort), "9080", fmt.Sprint(sandboxPort)).Replace(string(text))
	moved = strings.Replace(moved, "{\n", "{\n\tadmin off\n\tpersist_config off\n", 1)
	// Its default log, at Debug, goes where the log canary searches it.
	logPath := canaryLogPath(t)
	moved = strings.Replace(moved, "log default {\n", fmt.Sprintf("log default {\n\t\toutput file %s\n\t\tlevel DEBUG\n", logPath), 1)
	must(t, validateCaddyfile(moved))
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(moved), nil)
	must(t, err)
	assertLoopbackOnly(t, cfg)
	loadConfig(t, cfg)
	t.Cleanup(func() { _ = caddy.Stop() })

	key := loadDemoKey(t, "examples/keys/demo-es384.private.jwk.json")
	body, err := os.ReadFile("examples/create_managed_session.json")
	must(t, err)
	gw := &gateway{url: fmt.Sprintf("http://127.0.0.1:%d", gatewayPort)}

	resp := gw.post(t, testPath, key.sign(t, validClaims(string(body)), false), string(body))
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var hosted struct{ HostedURL string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(answer, &hosted) != nil || hosted.HostedURL == "" {
		t.Fatalf("got %d %s, want the sandbox's HostedURL", resp.StatusCode, answer)
	}

	resp = gw.post(t, "/elsewhere", "", "{}")
	if env := decodedEnvelope(t, resp); resp.StatusCode != http.StatusNotFound || env.Type != envelope.TypeResourceNotFound {
		t.Fatalf("another path got %d %s", resp.StatusCode, env.Type)
	}

	logs := (&gateway{logPath: logPath}).logs(t)
	if !strings.Contains(logs, `"msg":"upstream roundtrip"`) {
		t.Error("the example's log did not reach the reverse_proxy lines that carry request headers")
	}
	if strings.Contains(logs, "would record secret request headers") {
		t.Error("the gateway warns that the example's logs record secret headers")
	}
}

// assertLoopbackOnly: the example trusts demo keys whose private halves are
// published, so none of its servers may listen beyond loopback.
func assertLoopbackOnly(t *testing.T, cfg []byte) {
	t.Helper()
	var adapted struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Listen []string `json:"listen"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	must(t, json.Unmarshal(cfg, &adapted))
	if len(adapted.Apps.HTTP.Servers) == 0 {
		t.Fatal("the example has no server")
	}
	for name, srv := range adapted.Apps.HTTP.Servers {
		for _, addr := range srv.Listen {
			if !strings.HasPrefix(addr, "tcp/127.0.0.1:") && !strings.HasPrefix(addr, "127.0.0.1:") {
				t.Errorf("server %s listens on %s, beyond loopback", name, addr)
			}
		}
	}
}

func loadDemoKey(t *testing.T, path string) *testKey {
	t.Helper()
	data, err := os.ReadFile(path)
	must(t, err)
	k, err := jwk.ParseKey(data)
	must(t, err)
	var priv any
	must(t, jwk.Export(k, &priv))
	kid, _ := k.KeyID()
	alg, _ := k.Algorithm()
	tk := &testKey{kid: kid, alg: alg.String()}
	tk.priv, _ = priv.(*ecdsa.PrivateKey)
	if tk.priv == nil {
		t.Fatalf("%s is not an ECDSA private key", path)
	}
	return tk
}

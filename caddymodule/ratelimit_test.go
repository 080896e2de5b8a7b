package caddymodule

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
)

// limitedPost sends a fresh, valid request signed by k.
func limitedPost(t *testing.T, gw *gateway, k *testKey) *http.Response {
	return gw.post(t, testPath, k.sign(t, validClaims(validBody), false), validBody)
}

// expectLimited checks a 429 envelope whose Retry-After is within [min, max]
// seconds.
func expectLimited(t *testing.T, resp *http.Response, min, max int) {
	t.Helper()
	env := decodedEnvelope(t, resp)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("got %d %q, want 429", resp.StatusCode, env.Detail)
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < min || secs > max {
		t.Fatalf("Retry-After = %q, want %d to %d seconds", resp.Header.Get("Retry-After"), min, max)
	}
}

func TestRateLimit(t *testing.T) {
	stores := map[string]func(t *testing.T) string{
		"memory": func(*testing.T) string { return "" },
		"redis":  func(t *testing.T) string { return " store redis " + startRedis(t).url },
	}
	for name, store := range stores {
		t.Run(name, func(t *testing.T) {
			// 2 a minute, burst 2: the third waits about 30 s.
			f := newVerdictFixture(t, "\t\t\trate_limit 2/1m"+store(t)+"\n")
			for i := range 2 {
				if got := statusOf(t, limitedPost(t, f.gw, f.k384)); got != http.StatusOK {
					t.Fatalf("request %d within the burst got %d", i+1, got)
				}
			}
			expectLimited(t, limitedPost(t, f.gw, f.k384), 29, 30)
			if got := statusOf(t, limitedPost(t, f.gw, f.k256)); got != http.StatusOK {
				t.Fatalf("another key, another tenant, got %d", got)
			}
			if n := len(f.up.received()); n != 3 {
				t.Fatalf("the upstream saw %d requests, want 3", n)
			}
			resp := f.gw.post(t, testPath, f.stranger.sign(t, validClaims(validBody), false), validBody)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("an unverified request got %d: it must be refused as such, not counted", resp.StatusCode)
			}
		})
	}
}

func TestRateLimitPerAPIKey(t *testing.T) {
	k1, k2 := newTestKey(t, "k1", "ES256"), newTestKey(t, "k2", "ES256")
	keysFile := filepath.Join(t.TempDir(), "api_keys.json")
	must(t, os.WriteFile(keysFile, []byte(fmt.Sprintf(`{"%s":["k1","k2"]}`, bodyHash("tenant-one-key"))), 0o600))
	up := newUpstream(t, nil)
	gw := startCaddy(t, gatewaySite(up.hostPort(), "\t\t\tjwks_file "+writeJWKS(t, k1, k2)+"\n\t\t\tapi_keys "+keysFile+"\n\t\t\trate_limit 1/1m per api_key"))
	post := func(k *testKey) *http.Response {
		return gw.post(t, testPath, k.sign(t, validClaims(validBody), false), validBody, "X-Api-Key", "tenant-one-key")
	}
	if got := statusOf(t, post(k1)); got != http.StatusOK {
		t.Fatalf("first got %d", got)
	}
	expectLimited(t, post(k2), 59, 60)
}

func TestRateLimitRedisDown(t *testing.T) {
	for _, onError := range []string{"closed", "open"} {
		t.Run(onError, func(t *testing.T) {
			rs := startRedis(t)
			f := newVerdictFixture(t, "\t\t\trate_limit 100/1s store redis "+rs.url+" on_error "+onError+"\n")
			rs.stop()
			resp := limitedPost(t, f.gw, f.k384)
			if onError == "open" {
				if got := statusOf(t, resp); got != http.StatusOK {
					t.Fatalf("on_error open got %d", got)
				}
				return
			}
			if env := decodedEnvelope(t, resp); resp.StatusCode != http.StatusServiceUnavailable || env.Type != envelope.TypeUnexpected {
				t.Fatalf("on_error closed got %d %s", resp.StatusCode, env.Type)
			}
			if len(f.up.received()) != 0 {
				t.Fatal("a request reached the upstream uncounted")
			}
			rs.start()
			eventually(t, 10*time.Second, "recovery once Redis is back", func() bool {
				return statusOf(t, limitedPost(t, f.gw, f.k384)) == http.StatusOK
			})
		})
	}
}

// TestRateLimitSharedByTwoGateways runs a second Caddy process on the same
// Redis: the two share one allowance.
func TestRateLimitSharedByTwoGateways(t *testing.T) {
	rs := startRedis(t)
	option := "\t\t\trate_limit 3/1m store redis " + rs.url
	f := newVerdictFixture(t, option+"\n")
	other := startCaddyProcess(t, gatewaySite(f.up.hostPort(), "\t\t\tjwks_file "+writeJWKS(t, f.k384, f.k256)+"\n"+option))
	for i, gw := range []*gateway{f.gw, other, f.gw} {
		if got := statusOf(t, limitedPost(t, gw, f.k384)); got != http.StatusOK {
			t.Fatalf("request %d got %d", i+1, got)
		}
	}
	expectLimited(t, limitedPost(t, other, f.k384), 19, 20)
	expectLimited(t, limitedPost(t, f.gw, f.k384), 19, 20)
}

// startCaddyProcess runs a Caddyfile site in a separate Caddy process.
func startCaddyProcess(t *testing.T, site string) *gateway {
	bin := caddyBinary(t)
	port := freePort(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "Caddyfile")
	must(t, os.WriteFile(config, []byte(fmt.Sprintf("{\n\tadmin off\n\tpersist_config off\n}\n\nhttp://127.0.0.1:%d {\n%s\n}\n", port, site)), 0o600))
	cmd := exec.Command(bin, "run", "--config", config, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	eventually(t, 20*time.Second, "the second instance listens", func() bool {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	return &gateway{url: "http://" + addr, addr: addr, port: port}
}

// TestLaterHandlerErrorKeepsStatus: a client error from a handler after the
// gateway reaches the client with its status and Retry-After, not as 502.
func TestLaterHandlerErrorKeepsStatus(t *testing.T) {
	k := newTestKey(t, "k384", "ES384")
	gw := startCaddy(t, fmt.Sprintf(`	route {
		checkout_gateway {
			jwks_file %s
		}
		header Retry-After 7
		header X-Later-Handler leaked
		error "slow down" 429
	}`, writeJWKS(t, k)))
	resp := limitedPost(t, gw, k)
	expectLimited(t, resp, 7, 7)
	if resp.Header.Get("X-Later-Handler") != "" {
		t.Fatal("another header of the later handler reached the client")
	}
}

package caddymodule

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/redis/go-redis/v9"
)

// redisServer is a real redis-server on a free loopback port, owned by one
// test. Without redis-server installed the Redis tests skip, except in CI
// (CI=true), where .ci/run installs it and a missing server is a failure.
type redisServer struct {
	url  string
	port int
	args []string // more redis-server arguments
	cmd  *exec.Cmd
	t    *testing.T
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed; .ci/run must install it")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server); CI runs this test")
	}
	rs := &redisServer{port: freePort(t), t: t}
	rs.url = fmt.Sprintf("redis://127.0.0.1:%d/0", rs.port)
	rs.start()
	t.Cleanup(rs.stop)
	return rs
}

func (rs *redisServer) start() {
	rs.t.Helper()
	rs.cmd = exec.Command("redis-server", append([]string{"--port", fmt.Sprint(rs.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"}, rs.args...)...)
	must(rs.t, rs.cmd.Start())
	eventually(rs.t, 5*time.Second, "redis-server accepts connections", func() bool {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", rs.port))
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
}

func (rs *redisServer) stop() {
	if rs.cmd != nil && rs.cmd.Process != nil {
		_ = rs.cmd.Process.Kill()
		_ = rs.cmd.Wait()
		rs.cmd = nil
	}
}

func replayFixture(t *testing.T, replayOption string) *verdictFixture {
	return newVerdictFixture(t, "\t\t\treplay_protection "+replayOption+"\n")
}

// replayStoreOptions lists the stores the tests run against. Each takes
// the subtest's t, so that a missing redis-server skips only its subtest.
var replayStoreOptions = map[string]func(t *testing.T) string{
	"memory": func(*testing.T) string { return "memory" },
	"redis":  func(t *testing.T) string { return "redis " + startRedis(t).url },
}

func TestReplaySameRequestTwice(t *testing.T) {
	for name, option := range replayStoreOptions {
		t.Run(name, func(t *testing.T) {
			f := replayFixture(t, option(t))
			tok := f.k384.sign(t, validClaims(validBody), false)
			if got := statusOf(t, f.gw.post(t, testPath, tok, validBody)); got != http.StatusOK {
				t.Fatalf("first use got %d", got)
			}
			resp := f.gw.post(t, testPath, tok, validBody)
			env := decodedEnvelope(t, resp)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(env.Detail, "already used") {
				t.Fatalf("second use got %d %q", resp.StatusCode, env.Detail)
			}
			if n := len(f.up.received()); n != 1 {
				t.Fatalf("the upstream saw %d requests, want 1", n)
			}
		})
	}
}

// malleate re-encodes an ECDSA signature as (r, n - s): another valid
// signature of the same message.
func malleate(t *testing.T, k *testKey, tok string) string {
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	must(t, err)
	half := len(sig) / 2
	s := new(big.Int).SetBytes(sig[half:])
	s.Sub(k.priv.Curve.Params().N, s)
	out := append([]byte{}, sig[:half]...)
	out = append(out, s.FillBytes(make([]byte, half))...)
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(out)
}

func TestReplayMalleatedSignature(t *testing.T) {
	for name, option := range replayStoreOptions {
		t.Run(name, func(t *testing.T) {
			f := replayFixture(t, option(t))
			fresh := f.k384.sign(t, validClaims(validBody), false)
			if got := statusOf(t, f.gw.post(t, testPath, malleate(t, f.k384, fresh), validBody)); got != http.StatusOK {
				t.Fatalf("a fresh malleated token got %d: the variant is not a valid signature", got)
			}
			time.Sleep(1100 * time.Millisecond) // a new iat, so a new request
			tok := f.k384.sign(t, validClaims(validBody), false)
			if got := statusOf(t, f.gw.post(t, testPath, tok, validBody)); got != http.StatusOK {
				t.Fatalf("first use got %d", got)
			}
			resp := f.gw.post(t, testPath, malleate(t, f.k384, tok), validBody)
			if env := decodedEnvelope(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(env.Detail, "already used") {
				t.Fatalf("the malleated copy got %d %q", resp.StatusCode, env.Detail)
			}
		})
	}
}

func TestReplayConcurrentCopies(t *testing.T) {
	for name, option := range replayStoreOptions {
		t.Run(name, func(t *testing.T) {
			f := replayFixture(t, option(t))
			tok := f.k256.sign(t, validClaims(validBody), false)
			var wg sync.WaitGroup
			var accepted, replayed atomic.Int64
			start := make(chan struct{})
			for range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					switch statusOf(t, f.gw.post(t, testPath, tok, validBody)) {
					case http.StatusOK:
						accepted.Add(1)
					case http.StatusUnauthorized:
						replayed.Add(1)
					}
				}()
			}
			close(start)
			wg.Wait()
			if accepted.Load() != 1 || replayed.Load() != 49 || len(f.up.received()) != 1 {
				t.Fatalf("%d accepted, %d refused, upstream saw %d; want 1, 49, 1", accepted.Load(), replayed.Load(), len(f.up.received()))
			}
		})
	}
}

func TestReplayMemoryStoreFullRefusesNew(t *testing.T) {
	f := replayFixture(t, "memory max_entries 1")
	if got := statusOf(t, f.gw.post(t, testPath, f.k384.sign(t, validClaims(validBody), false), validBody)); got != http.StatusOK {
		t.Fatalf("first got %d", got)
	}
	resp := f.gw.post(t, testPath, f.k256.sign(t, validClaims(validBody), false), validBody)
	if env := decodedEnvelope(t, resp); resp.StatusCode != http.StatusServiceUnavailable || env.Type != envelope.TypeUnexpected {
		t.Fatalf("a new signature with the store full got %d %s", resp.StatusCode, env.Type)
	}
}

func TestRedisEntryExpiresWithTheToken(t *testing.T) {
	rs := startRedis(t)
	f := replayFixture(t, "redis "+rs.url+" key_prefix test:")
	claims := validClaims(validBody)
	tok := f.k384.sign(t, claims, false)
	if got := statusOf(t, f.gw.post(t, testPath, tok, validBody)); got != http.StatusOK {
		t.Fatalf("got %d", got)
	}
	client := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", rs.port)})
	defer client.Close()
	keys, err := client.Keys(context.Background(), "test:*").Result()
	must(t, err)
	if len(keys) != 1 {
		t.Fatalf("%d keys in Redis", len(keys))
	}
	ttl, err := client.PTTL(context.Background(), keys[0]).Result()
	must(t, err)
	want := time.Until(time.Unix(claims["exp"].(int64), 0).Add(time.Minute))
	if diff := ttl - want; diff > 3*time.Second || diff < -3*time.Second {
		t.Fatalf("the entry lives %s, want about %s (exp plus the skew)", ttl, want)
	}
	if strings.Contains(keys[0], strings.Split(tok, ".")[2]) {
		t.Fatal("the Redis key holds the token's signature")
	}
}

func TestRedisDownFailsClosedAndRecovers(t *testing.T) {
	rs := startRedis(t)
	f := replayFixture(t, "redis "+rs.url)
	post := func() *http.Response {
		return f.gw.post(t, testPath, f.k384.sign(t, validClaims(validBody), false), validBody)
	}
	if got := statusOf(t, post()); got != http.StatusOK {
		t.Fatalf("got %d", got)
	}
	rs.stop()
	time.Sleep(1100 * time.Millisecond)
	resp := post()
	env := decodedEnvelope(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || env.Type != envelope.TypeUnexpected {
		t.Fatalf("with Redis down got %d %s", resp.StatusCode, env.Type)
	}
	// The operator's line says why: the store's error, without the URL.
	if line := lineFor(t, f.gw, env.Instance); line["level"] != "error" || !strings.Contains(fmt.Sprint(line["error"]), "connect") {
		t.Errorf("the refusal line does not carry the cause: %v", line)
	}
	if n := len(f.up.received()); n != 1 {
		t.Fatalf("a request reached the upstream unchecked (%d)", n)
	}
	rs.start()
	eventually(t, 10*time.Second, "recovery once Redis is back", func() bool {
		time.Sleep(time.Second)
		return statusOf(t, post()) == http.StatusOK
	})
}

func TestRedisDownFailsOpenWhenAsked(t *testing.T) {
	rs := startRedis(t)
	f := replayFixture(t, "redis "+rs.url+" on_error open")
	rs.stop()
	if got := statusOf(t, f.gw.post(t, testPath, f.k384.sign(t, validClaims(validBody), false), validBody)); got != http.StatusOK {
		t.Fatalf("on_error open with Redis down got %d", got)
	}
}

// TestTwoInstancesShareRedis runs a second, separate Caddy process on the
// same Redis: a request used at one instance is refused at the other.
func TestTwoInstancesShareRedis(t *testing.T) {
	rs := startRedis(t)
	f := replayFixture(t, "redis "+rs.url)
	bin := caddyBinary(t)
	port := freePort(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "Caddyfile")
	jwks := writeJWKS(t, f.k384, f.k256)
	must(t, os.WriteFile(config, []byte(fmt.Sprintf("{\n\tadmin off\n\tpersist_config off\n}\n\nhttp://127.0.0.1:%d {\n%s\n}\n", port,
		gatewaySite(f.up.hostPort(), "\t\t\tjwks_file "+jwks+"\n\t\t\treplay_protection redis "+rs.url))), 0o600))
	cmd := exec.Command(bin, "run", "--config", config, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	other := &gateway{url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	eventually(t, 20*time.Second, "the second instance listens", func() bool {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			conn.Close()
		}
		return err == nil
	})

	tok := f.k384.sign(t, validClaims(validBody), false)
	if got := statusOf(t, f.gw.post(t, testPath, tok, validBody)); got != http.StatusOK {
		t.Fatalf("instance one got %d", got)
	}
	resp := other.post(t, testPath, tok, validBody)
	if env := decodedEnvelope(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(env.Detail, "already used") {
		t.Fatalf("the replay at instance two got %d %q", resp.StatusCode, env.Detail)
	}
	second := f.k256.sign(t, validClaims(validBody), false)
	if got := statusOf(t, other.post(t, testPath, second, validBody)); got != http.StatusOK {
		t.Fatalf("a fresh request at instance two got %d", got)
	}
	if got := statusOf(t, f.gw.post(t, testPath, second, validBody)); got != http.StatusUnauthorized {
		t.Fatalf("its replay at instance one got %d", got)
	}
}

// caddyBinary is a Caddy with this module: CHECKOUTGW_CADDY_BIN when CI has
// built one already, otherwise built here once.
func caddyBinary(t *testing.T) string {
	if bin := os.Getenv("CHECKOUTGW_CADDY_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "caddy")
	build := exec.Command("go", "build", "-o", bin, "../cmd/caddy")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building Caddy: %v\n%s", err, out)
	}
	return bin
}

// TestReplayMemorySurvivesReload: a config reload does not forget which
// signatures were used.
func TestReplayMemorySurvivesReload(t *testing.T) {
	f := replayFixture(t, "memory")
	tok := f.k384.sign(t, validClaims(validBody), false)
	if got := statusOf(t, f.gw.post(t, testPath, tok, validBody)); got != http.StatusOK {
		t.Fatalf("first use got %d", got)
	}
	jwks := writeJWKS(t, f.k384, f.k256)
	reloadCaddyfile(t, f.gw, gatewaySite(f.up.hostPort(), "\t\t\tjwks_file "+jwks+"\n\t\t\treplay_protection memory")+"\n\t# reloaded")
	// The reload closes idle connections; a POST is not retried on one.
	testClient.CloseIdleConnections()
	if got := statusOf(t, f.gw.post(t, testPath, tok, validBody)); got != http.StatusUnauthorized {
		t.Fatalf("the replay after a reload got %d", got)
	}
}

package caddymodule

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// keyServer is a programmable JWKS endpoint: what it answers can be changed
// while the gateway runs, and it counts fetches.
type keyServer struct {
	*httptest.Server
	mu           sync.Mutex
	status       int
	body         []byte
	delay        time.Duration
	cacheControl string
	contentLen   string // a forged Content-Length, for truncated bodies
	fetches      atomic.Int64
}

func newKeyServer(t *testing.T) *keyServer {
	ks := &keyServer{status: http.StatusOK, body: []byte(`{"keys":[]}`)}
	ks.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.fetches.Add(1)
		ks.mu.Lock()
		status, body, delay, cc, cl := ks.status, ks.body, ks.delay, ks.cacheControl, ks.contentLen
		ks.mu.Unlock()
		if r.URL.Path == "/redirect-away" {
			http.Redirect(w, r, "http://localhost.invalid/jwks", http.StatusFound)
			return
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		if cl != "" {
			w.Header().Set("Content-Length", cl)
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(ks.Close)
	return ks
}

func (ks *keyServer) serve(status int, body []byte) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.status, ks.body, ks.delay, ks.contentLen = status, body, 0, ""
}

func (ks *keyServer) publish(t *testing.T, keys ...*testKey) {
	ks.serve(http.StatusOK, jwksJSON(t, keys...))
}

func (ks *keyServer) set(edit func(ks *keyServer)) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	edit(ks)
}

func jwksJSON(t testing.TB, keys ...*testKey) []byte {
	set := jwk.NewSet()
	for _, k := range keys {
		must(t, set.AddKey(k.publicJWK(t)))
	}
	data, err := json.Marshal(set)
	must(t, err)
	return data
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("not within %s: %s", within, what)
	return 0
}

func statusOf(t *testing.T, resp *http.Response) int {
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// statusFor sends validBody signed by k and returns the answer's status.
func statusFor(t *testing.T, gw *gateway, k *testKey) int {
	return statusOf(t, gw.post(t, testPath, k.sign(t, validClaims(validBody), false), validBody))
}

// awaitKeys waits until the gateway accepts a request signed by k: its key
// set has loaded.
func awaitKeys(t *testing.T, gw *gateway, k *testKey) {
	eventually(t, 5*time.Second, "the key set loads", func() bool { return statusFor(t, gw, k) == http.StatusOK })
}

func urlGatewaySite(upstreamAddr, jwksURL, block string) string {
	return gatewaySite(upstreamAddr, fmt.Sprintf("\t\t\tjwks_url %s {\n%s\n\t\t\t}", jwksURL, block))
}

func TestKeyRotation(t *testing.T) {
	k1, k2 := newTestKey(t, "k1", "ES384"), newTestKey(t, "k2", "ES384")
	ks := newKeyServer(t)
	ks.publish(t, k1)
	up := newUpstream(t, nil)
	gw := startCaddy(t, urlGatewaySite(up.hostPort(), ks.URL, "\t\t\t\trefresh 1h"))
	awaitKeys(t, gw, k1)

	ks.publish(t, k1, k2)
	before := ks.fetches.Load()
	if got := statusFor(t, gw, k2); got != http.StatusOK {
		t.Fatalf("a newly published kid got %d on its first request", got)
	}
	if n := ks.fetches.Load() - before; n != 1 {
		t.Errorf("the unknown kid caused %d fetches, want 1", n)
	}
}

func TestKeyRemovalAfterRefresh(t *testing.T) {
	k1, k2 := newTestKey(t, "k1", "ES384"), newTestKey(t, "k2", "ES384")
	ks := newKeyServer(t)
	ks.publish(t, k1, k2)
	up := newUpstream(t, nil)
	gw := startCaddy(t, urlGatewaySite(up.hostPort(), ks.URL, "\t\t\t\trefresh 1s"))
	awaitKeys(t, gw, k1)
	ks.publish(t, k2)
	eventually(t, 5*time.Second, "a removed kid is refused after the next refresh", func() bool { return statusFor(t, gw, k1) == http.StatusUnauthorized })
	if got := statusFor(t, gw, k2); got != http.StatusOK {
		t.Fatalf("the remaining key got %d", got)
	}
}

// TestKeySourceOutages breaks the key server in every way and checks that
// traffic keeps flowing on the last good keys, each failure logged and
// counted.
func TestKeySourceOutages(t *testing.T) {
	k1 := newTestKey(t, "k1", "ES384")
	ks := newKeyServer(t)
	ks.publish(t, k1)
	up := newUpstream(t, nil)
	adminPort := freePort(t)
	gw := startCaddyWith(t, fmt.Sprintf("admin 127.0.0.1:%d", adminPort), urlGatewaySite(up.hostPort(), ks.URL, "\t\t\t\trefresh 1s\n\t\t\t\ttimeout 300ms"))
	awaitKeys(t, gw, k1)

	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	must(t, err)
	weakJSON := fmt.Sprintf(`{"kty":"RSA","kid":"weak","alg":"RS256","n":%q,"e":"AQAB"}`, base64.RawURLEncoding.EncodeToString(weak.N.Bytes()))
	good := string(jwksJSON(t, k1))
	mixed := strings.Replace(good, `{"keys":[`, `{"keys":[`+weakJSON+`,{"kty":"oct","kid":"sym","k":"c2VjcmV0"},`, 1)

	outages := []struct {
		name  string
		apply func(ks *keyServer)
		kept  bool // the refresh fails, so the last good keys are kept
	}{
		{"500", func(ks *keyServer) { ks.status, ks.body = 500, []byte("oops") }, true},
		{"HTML", func(ks *keyServer) { ks.status, ks.body = 200, []byte("<html><body>maintenance</body></html>") }, true},
		{"hang", func(ks *keyServer) { ks.delay = 2 * time.Second }, true},
		{"truncated body", func(ks *keyServer) {
			ks.status, ks.body, ks.contentLen = 200, []byte(good[:len(good)/2]), fmt.Sprint(len(good))
		}, true},
		{"oversized body", func(ks *keyServer) {
			ks.status, ks.body = 200, []byte(`{"keys":[],"pad":"`+strings.Repeat("x", 1<<20)+`"}`)
		}, true},
		{"empty set", func(ks *keyServer) { ks.status, ks.body = 200, []byte(`{"keys":[]}`) }, true},
		{"duplicate kid", func(ks *keyServer) { ks.status, ks.body = 200, jwksJSON(t, k1, newTestKey(t, "k1", "ES384")) }, true},
		{"unsupported key among good ones", func(ks *keyServer) { ks.status, ks.body = 200, []byte(mixed) }, false},
	}
	for _, o := range outages {
		t.Run(o.name, func(t *testing.T) {
			ks.publish(t, k1)
			ks.set(o.apply)
			before := ks.fetches.Load()
			eventually(t, 10*time.Second, "two more fetches", func() bool { return ks.fetches.Load() >= before+2 })
			if got := statusFor(t, gw, k1); got != http.StatusOK {
				t.Fatalf("a request during the outage got %d", got)
			}
		})
	}
	logs := gw.logs(t)
	if n := strings.Count(logs, "key set refresh failed"); n < 7 {
		t.Errorf("%d refresh failures logged, want one per failing outage at least", n)
	}
	if !strings.Contains(logs, `"kid":"weak"`) || !strings.Contains(logs, `"kid":"sym"`) {
		t.Error("the unsupported key was not logged as left out")
	}
	resp, err := testClient.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", adminPort))
	must(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `caddy_checkout_gateway_key_refreshes_total{result="error"}`) {
		t.Error("failed refreshes are not counted")
	}
}

// TestStartWithKeyServerDown: 503 envelopes with Retry-After until the key
// server answers, then 200s within one backoff step, with no restart.
func TestStartWithKeyServerDown(t *testing.T) {
	k1 := newTestKey(t, "k1", "ES384")
	ks := newKeyServer(t)
	ks.serve(http.StatusServiceUnavailable, []byte("down"))
	up := newUpstream(t, nil)
	gw := startCaddy(t, urlGatewaySite(up.hostPort(), ks.URL, "\t\t\t\trefresh 1h"))
	eventually(t, 5*time.Second, "a failed first fetch", func() bool { return ks.fetches.Load() >= 2 })
	resp := gw.post(t, testPath, k1.sign(t, validClaims(validBody), false), validBody)
	env := decodedEnvelope(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || env.Type != envelope.TypeUnexpected || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d %s Retry-After=%q", resp.StatusCode, env.Type, resp.Header.Get("Retry-After"))
	}
	if len(up.received()) != 0 {
		t.Fatal("a request reached the upstream without keys")
	}
	ks.publish(t, k1)
	took := eventually(t, 10*time.Second, "recovery", func() bool { return statusFor(t, gw, k1) == http.StatusOK })
	t.Logf("recovered %s after the key server came back", took)
	if took > 4*time.Second {
		t.Errorf("recovery took %s, more than one backoff step", took)
	}
}

// TestUnknownKidFloodFetchesOnce: 200 concurrent requests naming random
// unknown kids cause at most one fetch.
func TestUnknownKidFloodFetchesOnce(t *testing.T) {
	k1 := newTestKey(t, "k1", "ES256")
	ks := newKeyServer(t)
	ks.publish(t, k1)
	up := newUpstream(t, nil)
	gw := startCaddy(t, urlGatewaySite(up.hostPort(), ks.URL, "\t\t\t\trefresh 1h"))
	awaitKeys(t, gw, k1)
	before := ks.fetches.Load()
	var wg sync.WaitGroup
	var unauthorized atomic.Int64
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			random := make([]byte, 8)
			_, _ = rand.Read(random)
			forger := &testKey{kid: fmt.Sprintf("rnd-%d-%s", i, hex.EncodeToString(random)), alg: "ES256", priv: k1.priv}
			if statusOf(t, gw.post(t, testPath, forger.sign(t, validClaims(validBody), false), validBody)) == http.StatusUnauthorized {
				unauthorized.Add(1)
			}
		}()
	}
	wg.Wait()
	if unauthorized.Load() != 200 {
		t.Errorf("%d of 200 refused", unauthorized.Load())
	}
	if n := ks.fetches.Load() - before; n > 1 {
		t.Errorf("200 unknown kids caused %d fetches, want at most 1", n)
	}
}

// refresherGoroutines counts running key-source loops.
func refresherGoroutines() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return strings.Count(string(buf[:n]), "keyring.(*Source).run(")
}

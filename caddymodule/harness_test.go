package caddymodule

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/internal/bodycases"
)

const testPath = "/checkout/manage"

// validBody is a complete Create Managed Session body with recognisable
// customer data, so tests can look for leaks of it.
const validBody = bodycases.Valid

// testKey is a signing key with its kid and algorithm.
type testKey struct {
	kid  string
	alg  string
	priv *ecdsa.PrivateKey
}

func newTestKey(t testing.TB, kid, alg string) *testKey {
	t.Helper()
	curve := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
	priv, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{kid: kid, alg: alg, priv: priv}
}

// publicJWK is the key's public JWK, as an operator would publish it.
func (k *testKey) publicJWK(t testing.TB) jwk.Key {
	t.Helper()
	pub, err := jwk.Import(&k.priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	must(t, pub.Set(jwk.KeyIDKey, k.kid))
	alg, _ := jwa.LookupSignatureAlgorithm(k.alg)
	must(t, pub.Set(jwk.AlgorithmKey, alg))
	must(t, pub.Set(jwk.KeyUsageKey, "sig"))
	return pub
}

// writeJWKS writes the keys' public halves as a JWK set file.
func writeJWKS(t testing.TB, keys ...*testKey) string {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		must(t, set.AddKey(k.publicJWK(t)))
	}
	data, err := json.Marshal(set)
	must(t, err)
	path := filepath.Join(t.TempDir(), "keys.jwks.json")
	must(t, os.WriteFile(path, data, 0o600))
	return path
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func bodyHash(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

// validClaims are the claims the provider's rules ask for, issued now.
func validClaims(body string) map[string]any {
	now := time.Now().Unix()
	return map[string]any{
		"aud":      "https://api.noah.com",
		"iat":      now,
		"exp":      now + 300,
		"method":   http.MethodPost,
		"path":     testPath,
		"bodyHash": bodyHash(body),
	}
}

// signRaw signs the exact header and payload JSON texts, so tests can build
// tokens that no JOSE library would produce.
func (k *testKey) signRaw(t testing.TB, headerJSON, payloadJSON string) string {
	t.Helper()
	input := b64(headerJSON) + "." + b64(payloadJSON)
	hash := map[string]crypto.Hash{"ES256": crypto.SHA256, "ES384": crypto.SHA384, "ES512": crypto.SHA512}[k.alg]
	sig, err := jwsbb.SignECDSA(k.priv, []byte(input), hash, rand.Reader)
	must(t, err)
	token := input + "." + base64.RawURLEncoding.EncodeToString(sig)
	canary.recordToken(token)
	return token
}

// sign signs claims with a header of alg and, unless withoutKid, kid.
func (k *testKey) sign(t testing.TB, claims map[string]any, withoutKid bool) string {
	t.Helper()
	header := map[string]any{"alg": k.alg, "typ": "JWT"}
	if !withoutKid {
		header["kid"] = k.kid
	}
	return k.signRaw(t, mustJSON(t, header), mustJSON(t, claims))
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	must(t, err)
	return string(data)
}

// recordedRequest is what the upstream saw.
type recordedRequest struct {
	method string
	uri    string
	header http.Header
	body   []byte
	length int64
}

// upstream is a recording httptest server standing in for the checkout API.
type upstream struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recordedRequest
}

func newUpstream(t testing.TB, respond http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	if respond == nil {
		respond = func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"HostedURL":"https://checkout.test/manage/1"}`)
		}
	}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.requests = append(u.requests, recordedRequest{method: r.Method, uri: r.RequestURI, header: r.Header.Clone(), body: body, length: r.ContentLength})
		u.mu.Unlock()
		respond(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) received() []recordedRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]recordedRequest(nil), u.requests...)
}

func (u *upstream) reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.requests = nil
}

func (u *upstream) hostPort() string { return strings.TrimPrefix(u.URL, "http://") }

// freePort finds a loopback port that is free now. Tests never use fixed
// ports, so parallel runs on one machine do not collide.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// gateway is a real Caddy, in process, running a test Caddyfile.
type gateway struct {
	url     string
	addr    string
	port    int
	logPath string
}

// startCaddy adapts and loads a Caddyfile whose site listens on a free
// loopback port for any host. It writes Caddy's logs to a file the test can
// read and the log canary searches, and stops Caddy when the test ends.
func startCaddy(t testing.TB, siteBody string) *gateway {
	t.Helper()
	return startCaddyWith(t, "admin off", siteBody)
}

// startCaddyWith is startCaddy with other global options than "admin off".
func startCaddyWith(t testing.TB, globalOptions, siteBody string) *gateway {
	t.Helper()
	port := freePort(t)
	logPath := canaryLogPath(t)
	loadCaddyfile(t, testCaddyfile(globalOptions, logPath, port, siteBody))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return &gateway{url: "http://" + addr, addr: addr, port: port, logPath: logPath}
}

// loadCaddyfile adapts and loads a whole Caddyfile, and stops Caddy when the
// test ends.
func loadCaddyfile(t testing.TB, caddyfile string) {
	t.Helper()
	cfg, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting Caddyfile: %v\n%s", err, caddyfile)
	}
	for _, w := range warnings {
		t.Logf("Caddyfile warning: %s", w.String())
	}
	loadConfig(t, cfg)
	t.Cleanup(func() { _ = caddy.Stop() })
}

// loadConfig loads a Caddy config and then drops the test client's idle
// connections: a reload closes the old server's idle connections, and a
// new Caddy may get a port an earlier one used, so a POST on a pooled
// connection would fail with EOF (a POST is not retried).
func loadConfig(t testing.TB, cfg []byte) {
	t.Helper()
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("loading config: %v", err)
	}
	testClient.CloseIdleConnections()
}

// testCaddyfile is a Caddyfile of one site on a loopback port, logging JSON
// to logPath through the documented filter. At Debug, so that the canary
// sees every line reverse_proxy and the server can write.
func testCaddyfile(globalOptions, logPath string, port int, siteBody string) string {
	return fmt.Sprintf(`{
	%s
	persist_config off
	auto_https off
	log {
		output file %s
%s
		level DEBUG
	}
}

http://:%d {
	bind 127.0.0.1
%s
}
`, globalOptions, logPath, documentedFilter("\t\t"), port, siteBody)
}

// gatewaySite is the usual site body: the gateway, on every path so that
// its own path checks are reached, in front of upstream.
func gatewaySite(upstreamAddr, options string) string {
	return fmt.Sprintf(`	handle {
		checkout_gateway {
%s
		}
		reverse_proxy %s {
			transport http {
				response_header_timeout 2s
			}
		}
	}`, strings.TrimRight(options, "\n"), upstreamAddr)
}

func (g *gateway) logs(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(g.logPath)
	must(t, err)
	return string(data)
}

// post sends a signed request as a client would.
func (g *gateway) post(t testing.TB, pathAndQuery, token, body string, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.url+pathAndQuery, strings.NewReader(body))
	must(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Api-Signature", token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return do(t, req)
}

var testClient = &http.Client{Timeout: 10 * time.Second}

func do(t testing.TB, req *http.Request) *http.Response {
	t.Helper()
	for _, key := range req.Header.Values("X-Api-Key") {
		canary.record("an API key", key)
	}
	resp, err := testClient.Do(req)
	must(t, err)
	return resp
}

// rawRequest writes bytes on a fresh connection and reads one response, for
// requests that Go's client refuses to send.
func (g *gateway) rawRequest(t testing.TB, raw string) *http.Response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
	must(t, err)
	t.Cleanup(func() { conn.Close() })
	must(t, conn.SetDeadline(time.Now().Add(15*time.Second)))
	recordRawAPIKeys(raw)
	_, err = io.WriteString(conn, raw)
	must(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	must(t, err)
	return resp
}

// recordRawAPIKeys tells the log canary the X-Api-Key values of a raw
// request's header.
func recordRawAPIKeys(raw string) {
	head, _, _ := strings.Cut(raw, "\r\n\r\n")
	for line := range strings.SplitSeq(head, "\r\n") {
		name, value, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(name), "X-Api-Key") {
			canary.record("an API key", strings.TrimSpace(value))
		}
	}
}

// decodedEnvelope reads an envelope answer and checks its shape.
func decodedEnvelope(t testing.TB, resp *http.Response) envelope.Envelope {
	t.Helper()
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	must(t, err)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json; body %s", ct, data)
	}
	var env envelope.Envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		t.Fatalf("answer is not an envelope: %v: %s", err, data)
	}
	if env.Instance == "" || env.Type == "" || env.Detail == "" {
		t.Fatalf("envelope lacks Type, Instance or Detail: %s", data)
	}
	return env
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// captureLogs points a provisioned gateway's logger at a buffer.
func captureLogs(g *Gateway) *logBuffer {
	out := &logBuffer{}
	encoder := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	g.logger = zap.New(zapcore.NewCore(encoder, zapcore.AddSync(out), zapcore.DebugLevel))
	return out
}

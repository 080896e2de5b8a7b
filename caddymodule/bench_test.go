package caddymodule

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/checkoutgw/checkoutgw/jsonbody"
	"github.com/checkoutgw/checkoutgw/keyring"
	"github.com/checkoutgw/checkoutgw/redisconn"
	"github.com/checkoutgw/checkoutgw/replay"
)

// Every benchmark here that costs a request reports its time as a multiple
// of one bare ECDSA verification of the same curve ("verifications/op"),
// because absolute times on a shared machine are noise and the
// verification is the floor the gateway cannot go below.

// measureInVerifications runs op b.N times, each time right after one bare
// verification of alg, and reports op's cost in those verifications, as
// its own ns/op, allocs/op and B/op: in a verifying server every request
// follows another's verification, so both are measured in that
// alternation, under the same noise. The timer is never stopped: stopping
// and starting it stops the world each time to read the allocation
// counters, which no server does per request; between every verification
// and op it added about 4% of an ES256 verification to each op
// (BenchmarkFloor/ES256 read 1.11 with the stops and 1.07 without). The
// verifications' own allocations are counted once beforehand and taken
// off.
func measureInVerifications(b *testing.B, alg string, op func()) {
	verify := bareVerifier(b, alg)
	verifyAllocs, verifyBytes := allocationsOf(verify)
	var operating, verifying time.Duration
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		start := time.Now()
		verify()
		between := time.Now()
		op()
		verifying += between.Sub(start)
		operating += time.Since(between)
	}
	runtime.ReadMemStats(&after)
	n := float64(b.N)
	b.ReportAllocs() // prints the two memory columns, with the values below
	b.ReportMetric(float64(operating.Nanoseconds())/n, "ns/op")
	b.ReportMetric(math.Round(float64(after.Mallocs-before.Mallocs)/n-verifyAllocs), "allocs/op")
	b.ReportMetric(math.Round(float64(after.TotalAlloc-before.TotalAlloc)/n-verifyBytes), "B/op")
	b.ReportMetric(float64(operating)/float64(verifying), "verifications/op")
}

// allocationsOf is what one call of f allocates, averaged over a few.
func allocationsOf(f func()) (allocs, bytes float64) {
	const runs = 100
	f() // the first call may set up what later ones reuse
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / runs, float64(after.TotalAlloc-before.TotalAlloc) / runs
}

// bareVerifier returns a function that verifies one ES256 or ES384 JWS
// signature with crypto/ecdsa alone: the cost floor of any gateway.
func bareVerifier(tb testing.TB, alg string) func() {
	k := newTestKey(tb, "k", alg)
	tok := k.sign(tb, validClaims(validBody), false)
	i := strings.LastIndexByte(tok, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
	input := []byte(tok[:i])
	half := len(sig) / 2
	rr, ss := new(big.Int).SetBytes(sig[:half]), new(big.Int).SetBytes(sig[half:])
	hash := map[string]func([]byte) []byte{
		"ES256": func(p []byte) []byte { s := sha256.Sum256(p); return s[:] },
		"ES384": func(p []byte) []byte { s := sha512.Sum384(p); return s[:] },
	}[alg]
	return func() {
		if !ecdsa.Verify(&k.priv.PublicKey, hash(input), rr, ss) {
			panic("the bare verification failed")
		}
	}
}

func benchmarkBareVerify(b *testing.B, alg string) {
	verify := bareVerifier(b, alg)
	for b.Loop() {
		verify()
	}
}

func BenchmarkBareVerifyES384(b *testing.B) { benchmarkBareVerify(b, "ES384") }
func BenchmarkBareVerifyES256(b *testing.B) { benchmarkBareVerify(b, "ES256") }

// The parallel variants verify on every core at once, as a loaded server
// does; on a small shared machine each verification then costs more CPU
// than alone. They report that CPU time per verification as cpu-ns/op.
func BenchmarkBareVerifyParallelES384(b *testing.B) { benchmarkBareVerifyParallel(b, "ES384") }
func BenchmarkBareVerifyParallelES256(b *testing.B) { benchmarkBareVerifyParallel(b, "ES256") }

func benchmarkBareVerifyParallel(b *testing.B, alg string) {
	verify := bareVerifier(b, alg)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			verify()
		}
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())*float64(runtime.GOMAXPROCS(0))/float64(b.N), "cpu-ns/op")
}

// benchGateway is a provisioned gateway with a next handler that answers 200,
// driven in process without a network.
type benchGateway struct {
	g    *Gateway
	next caddyhttp.Handler
}

func newBenchGateway(b testing.TB, keys ...*testKey) *benchGateway {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	b.Cleanup(cancel)
	g := &Gateway{JWKSFiles: []string{writeJWKS(b, keys...)}, Algorithms: []string{"ES384", "ES256"}}
	must(b, g.Provision(ctx))
	b.Cleanup(func() { _ = g.Cleanup() })
	// Refusals are logged as in production, encoded and then discarded.
	g.logger = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zapcore.InfoLevel))
	return &benchGateway{g: g, next: benchNext}
}

// benchNext reads and closes the body, as reverse_proxy's transport does,
// and answers 200.
var benchNext = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
	_, _ = io.Copy(io.Discard, r.Body)
	_ = r.Body.Close()
	w.WriteHeader(http.StatusOK)
	return nil
})

// benchRecorder is a recorder whose connection, like every real one over
// HTTP/1, 2 and 3, takes read deadlines.
type benchRecorder struct{ *httptest.ResponseRecorder }

func (benchRecorder) SetReadDeadline(time.Time) error { return nil }

// benchRequest is one request as Caddy hands it to a handler, with its
// recorder: the harness every in-process benchmark pays for. Its headers
// are those a client sends, Content-Length included.
func benchRequest(path, token, body string) (benchRecorder, *http.Request) {
	rec := benchRecorder{httptest.NewRecorder()}
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Length", strconv.Itoa(len(body)))
	req.Header.Set("Api-Signature", token)
	return rec, caddyhttp.PrepareRequest(req, caddy.NewReplacer(), rec, &caddyhttp.Server{})
}

// serve runs one request through the gateway and returns the status.
func (bg *benchGateway) serve(b testing.TB, path, token, body string) int {
	rec, req := benchRequest(path, token, body)
	if err := bg.g.ServeHTTP(rec, req, bg.next); err != nil {
		b.Fatal(err)
	}
	return rec.Code
}

// run benchmarks one request shape and reports its cost in verifications.
func (bg *benchGateway) run(b *testing.B, alg, path, token, body string, wantStatus int) {
	measureInVerifications(b, alg, func() {
		if got := bg.serve(b, path, token, body); got != wantStatus {
			b.Fatalf("status %d, want %d", got, wantStatus)
		}
	})
}

// BenchmarkHarness is the cost of the in-process harness alone (request,
// recorder, Caddy's request preparation, the next handler), in each
// curve's verifications: subtract it from the others to see the gateway's
// own cost. Caddy's server does the same preparation for every request, to
// the floor's as much as to the gateway's.
func BenchmarkHarness(b *testing.B) {
	k384, k256 := newTestKey(b, "k384", "ES384"), newTestKey(b, "k256", "ES256")
	bg := newBenchGateway(b, k384, k256)
	for _, k := range []*testKey{k384, k256} {
		token := k.sign(b, validClaims(validBody), false)
		b.Run(k.alg, func(b *testing.B) {
			measureInVerifications(b, k.alg, func() {
				rec, req := benchRequest(testPath, token, validBody)
				_ = bg.next.ServeHTTP(rec, req)
			})
		})
	}
}

// BenchmarkGateway measures the whole handler path for accepted requests
// and for each cheap rejection.
func BenchmarkGateway(b *testing.B) {
	k384, k256 := newTestKey(b, "k384", "ES384"), newTestKey(b, "k256", "ES256")
	bg := newBenchGateway(b, k384, k256)
	valid := validClaims(validBody)
	expired := claimsWith(validBody, func(c map[string]any) { c["iat"], c["exp"] = c["iat"].(int64)-900, c["iat"].(int64)-600 })
	badBody := `{"CustomerID":"","Customer":{"FullName":{"FirstName":""},"DateOfBirth":"1987-02-30","Identities":[],"PrimaryResidence":{}}}`
	unknown := &testKey{kid: "k999", alg: "ES384", priv: k384.priv}
	cases := []struct {
		name, alg, path, token, body string
		status                       int
	}{
		{"accept ES384", "ES384", testPath, k384.sign(b, valid, false), validBody, 200},
		{"accept ES256", "ES256", testPath, k256.sign(b, valid, false), validBody, 200},
		{"reject malformed token", "ES384", testPath, "eyJhbGciOiJFUzM4NCJ9.bm90IGpzb24.c2ln", validBody, 401},
		{"reject unknown kid", "ES384", testPath, unknown.sign(b, valid, false), validBody, 401},
		{"reject expired", "ES384", testPath, k384.sign(b, expired, false), validBody, 401},
		{"reject wrong path", "ES384", "/v1" + testPath, k384.sign(b, valid, false), validBody, 401},
		{"reject bad bodyHash", "ES384", testPath, k384.sign(b, valid, false), strings.Replace(validBody, "Quintessa", "Quintessb", 1), 401},
		{"reject schema", "ES384", testPath, k384.sign(b, validClaims(badBody), false), badBody, 400},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) { bg.run(b, tc.alg, tc.path, tc.token, tc.body, tc.status) })
	}
}

// BenchmarkBodySize shows the cost growing with the body from 0.5 KiB to the
// 64 KiB limit: hashing, strict parsing and validation are all linear.
func BenchmarkBodySize(b *testing.B) {
	k := newTestKey(b, "k384", "ES384")
	bg := newBenchGateway(b, k)
	for _, size := range []int{512, 4 << 10, 16 << 10, 63 << 10} {
		body := paddedBody(size)
		b.Run(fmt.Sprintf("%dB", len(body)), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			bg.run(b, "ES384", testPath, k.sign(b, validClaims(body), false), body, 200)
		})
	}
}

// paddedBody is a valid body of about size bytes, padded in Street2, the
// one field without a length limit.
func paddedBody(size int) string {
	base := strings.Replace(validBody, `"Street":"742 Evergreen Terrace",`, `"Street":"742 Evergreen Terrace","Street2":"",`, 1)
	pad := max(0, size-len(base))
	return strings.Replace(base, `"Street2":""`, `"Street2":"`+strings.Repeat("x", pad)+`"`, 1)
}

// BenchmarkKeyLookup shows that finding a key by kid costs the same for 1
// key or 10,000.
func BenchmarkKeyLookup(b *testing.B) {
	proto := newTestKey(b, "proto", "ES256")
	for _, n := range []int{1, 100, 10_000} {
		tenants := make([]*testKey, n)
		for i := range tenants {
			tenants[i] = &testKey{kid: fmt.Sprintf("tenant-%05d", i), alg: "ES256", priv: proto.priv}
		}
		parsed, skipped, err := keyring.ParseJWKS(jwksJSON(b, tenants...), []string{"ES256"})
		must(b, err)
		if len(parsed) != n || len(skipped) != 0 {
			b.Fatalf("%d keys parsed, %d skipped, want %d and 0", len(parsed), len(skipped), n)
		}
		ring, err := keyring.NewRing(parsed, []string{"ES256"}, zap.NewNop(), nil)
		must(b, err)
		want := tenants[n/2].kid
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := ring.Lookup(context.Background(), want); !ok {
					b.Fatal("not found")
				}
			}
		})
	}
}

// BenchmarkNoKid measures tokens without kid against 1, 2 and 4 keys: the
// key that verified last is tried first, so the cost stays near one
// verification per request.
func BenchmarkNoKid(b *testing.B) {
	for _, n := range []int{1, 2, 4} {
		keys := make([]*testKey, n)
		for i := range keys {
			keys[i] = newTestKey(b, fmt.Sprintf("k%d", i), "ES384")
		}
		bg := newBenchGateway(b, keys...)
		signer := keys[n-1]
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			bg.run(b, "ES384", testPath, signer.sign(b, validClaims(validBody), true), validBody, 200)
		})
	}
}

// BenchmarkValidation is the body's cost alone (strict parse and schema) for
// the example body, as a fraction of one ES384 verification.
func BenchmarkValidation(b *testing.B) {
	schema, err := jsonbody.Load(defaultSchema, time.Now)
	must(b, err)
	body := []byte(validBody)
	measureInVerifications(b, "ES384", func() {
		if rej := schema.Check(body); rej != nil {
			b.Fatal(rej)
		}
	})
}

// BenchmarkReplayStore is the added cost per request of marking a signature
// used, as a fraction of one ES384 verification.
func BenchmarkReplayStore(b *testing.B) {
	stores := map[string]func(b *testing.B) replay.Store{
		"memory": func(*testing.B) replay.Store { return replay.NewMemoryStore(defaultMaxReplayEntries, time.Now) },
		"redis": func(b *testing.B) replay.Store {
			url := os.Getenv("CHECKOUTGW_BENCH_REDIS")
			if url == "" {
				b.Skip("set CHECKOUTGW_BENCH_REDIS=redis://127.0.0.1:6379/0 to measure the Redis store")
			}
			client, err := redisconn.NewClient(url, "")
			must(b, err)
			s := replay.NewRedisStore(client, "bench:", 0)
			b.Cleanup(func() { _ = s.Destruct() })
			return s
		},
	}
	for _, name := range []string{"memory", "redis"} {
		b.Run(name, func(b *testing.B) {
			store := stores[name](b)
			ctx := context.Background()
			expires := time.Now().Add(time.Minute)
			var n uint64
			measureInVerifications(b, "ES384", func() {
				n++
				key := sha256.Sum256(binary.BigEndian.AppendUint64(nil, n))
				if fresh, err := store.MarkUsed(ctx, key, expires); err != nil || !fresh {
					b.Fatal(fresh, err)
				}
			})
		})
	}
}

// BenchmarkFloor is the in-process twin of bench/floorcaddy: the harness's
// request, its own token's signature verified with the gateway's
// keyring.Key.Verify over its own signing input, the next handler. It is
// what any verifying server pays per request here; the gateway's own cost
// is what BenchmarkGateway's accepted requests read above it.
func BenchmarkFloor(b *testing.B) {
	for _, alg := range []string{"ES384", "ES256"} {
		k := newTestKey(b, "k", alg)
		keys, _, err := keyring.ParseJWKS(jwksJSON(b, k), []string{alg})
		must(b, err)
		token := k.sign(b, validClaims(validBody), false)
		b.Run(alg, func(b *testing.B) {
			measureInVerifications(b, alg, func() {
				rec, req := benchRequest(testPath, token, validBody)
				tok := req.Header.Get("Api-Signature")
				dot := strings.LastIndexByte(tok, '.')
				var sig [132]byte
				n, err := base64.RawURLEncoding.Decode(sig[:], []byte(tok[dot+1:]))
				if err != nil || keys[0].Verify([]byte(tok[:dot]), sig[:n]) != nil {
					b.Fatal("the floor's verification failed")
				}
				_ = benchNext.ServeHTTP(rec, req)
			})
		})
	}
}

package caddymodule

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/checkoutgw/checkoutgw/envelope"
)

const streamedSize = 10 << 20

// TestUpstreamAnswers checks what the client gets for each kind of upstream
// answer: errors only ever as envelopes, successes streamed untouched.
func TestUpstreamAnswers(t *testing.T) {
	firstChunkRead := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream-Internal", "build-1234")
		switch r.URL.Path {
		case "/html500":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "<html><body><h1>Internal Server Error</h1><p>stack: db.go:42</p></body></html>")
		case "/text404":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "404 page not found")
		case "/json400":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"bad customer"}`)
		case "/empty503":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/envelope400":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"Type":"InvalidMessage","Instance":"upstream-7f3a","Action":"CreateManagedSession","Detail":"CustomerID unknown"}`)
		case "/reset":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "1000")
			_, _ = io.WriteString(w, `{"HostedURL":"https://checkout.test/`)
			w.(http.Flusher).Flush()
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		case "/big":
			w.Header().Set("Content-Type", "application/octet-stream")
			chunk := bytes.Repeat([]byte("x"), 1<<20)
			_, _ = w.Write(chunk)
			w.(http.Flusher).Flush()
			// The rest is sent only once the client has the first chunk:
			// an answer buffered whole by the gateway would never finish.
			select {
			case <-firstChunkRead:
			case <-time.After(10 * time.Second):
				return
			}
			for range streamedSize/len(chunk) - 1 {
				_, _ = w.Write(chunk)
			}
		}
	})
	k := newTestKey(t, "k384", "ES384")
	gw := startCaddy(t, gatewaySite(up.hostPort(), "\t\t\tjwks_file "+writeJWKS(t, k)))
	signedPost := func(t *testing.T, path string) *http.Response {
		claims := validClaims(validBody)
		claims["path"] = path
		return gw.post(t, path, k.sign(t, claims, false), validBody)
	}

	for _, tc := range []struct {
		path, typ string
		status    int
	}{
		{"/html500", envelope.TypeUnexpected, 500},
		{"/text404", envelope.TypeResourceNotFound, 404},
		{"/json400", envelope.TypeInvalidMessage, 400},
		{"/empty503", envelope.TypeUnexpected, 503},
	} {
		t.Run("normalised "+tc.path, func(t *testing.T) {
			resp := signedPost(t, tc.path)
			env := decodedEnvelope(t, resp)
			if resp.StatusCode != tc.status || env.Type != tc.typ {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, env.Type, tc.status, tc.typ)
			}
			if resp.Header.Get("X-Upstream-Internal") != "" {
				t.Error("the upstream's headers reached the client")
			}
			if !strings.Contains(env.Detail, "answered") || strings.Contains(env.Detail, "stack") {
				t.Errorf("Detail %q", env.Detail)
			}
		})
	}
	logs := gw.logs(t)
	if strings.Contains(logs, "db.go:42") || !strings.Contains(logs, `"reason":"upstream_error"`) || !strings.Contains(logs, `"upstream_status":500`) {
		t.Error("the upstream's own text is in the log, or its status is not")
	}

	t.Run("reset after the headers aborts the client connection", func(t *testing.T) {
		resp := signedPost(t, "/reset")
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("got %d", resp.StatusCode)
		}
		if _, err := io.ReadAll(resp.Body); err == nil {
			t.Fatal("the client read a complete answer from an upstream that failed half-way")
		}
		eventually(t, 5*time.Second, "the cut is logged", func() bool { return strings.Contains(gw.logs(t), "upstream answer cut short") })
	})

	t.Run("envelope passes through", func(t *testing.T) {
		resp := signedPost(t, "/envelope400")
		env := decodedEnvelope(t, resp)
		if resp.StatusCode != 400 || env.Instance != "upstream-7f3a" || env.Detail != "CustomerID unknown" {
			t.Fatalf("got %d %+v", resp.StatusCode, env)
		}
	})

	t.Run("10 MiB success streams", func(t *testing.T) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		resp := signedPost(t, "/big")
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Upstream-Internal") != "build-1234" {
			t.Fatalf("got %d", resp.StatusCode)
		}
		first := make([]byte, 1<<20)
		_, err := io.ReadFull(resp.Body, first)
		must(t, err)
		close(firstChunkRead)
		rest, err := io.Copy(io.Discard, resp.Body)
		must(t, err)
		if total := int64(len(first)) + rest; total != streamedSize {
			t.Fatalf("got %d bytes, want %d", total, streamedSize)
		}
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > streamedSize/2 {
			t.Errorf("the test allocated %d bytes for a %d-byte answer: it was buffered", grew, streamedSize)
		}
	})
}

// TestPanicBecomesEnvelope injects a panic through the gateway's clock and
// checks that the client gets a 500 envelope, the log has its Instance, and
// the next request is served.
func TestPanicBecomesEnvelope(t *testing.T) {
	k := newTestKey(t, "k384", "ES384")
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	g := &Gateway{JWKSFiles: []string{writeJWKS(t, k)}}
	must(t, g.Provision(ctx))
	logs := captureLogs(g)
	panicking := true
	g.policy.Now = func() time.Time {
		if panicking {
			panic("injected fault")
		}
		return time.Now()
	}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
		_, err := io.WriteString(w, `{"HostedURL":"x"}`)
		return err
	})
	serve := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, testPath, strings.NewReader(validBody))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Api-Signature", k.sign(t, validClaims(validBody), false))
		req = caddyhttp.PrepareRequest(req, caddy.NewReplacer(), rec, &caddyhttp.Server{})
		must(t, g.ServeHTTP(rec, req, next))
		return rec
	}
	rec := serve()
	env := decodedEnvelope(t, rec.Result())
	if rec.Code != http.StatusInternalServerError || env.Type != envelope.TypeUnexpected {
		t.Fatalf("got %d %s", rec.Code, env.Type)
	}
	if !strings.Contains(logs.String(), env.Instance) || strings.Contains(logs.String(), "injected fault") {
		t.Errorf("log: %s", logs.String())
	}
	panicking = false
	if rec := serve(); rec.Code != http.StatusOK {
		t.Fatalf("the next request got %d: %s", rec.Code, rec.Body.String())
	}
}

package caddymodule

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// TestBodyDeadlineOnRealConnection: a server's writer, even wrapped as
// Caddy wraps it, bounds the read with the connection's read deadline, at
// no allocation per request.
func TestBodyDeadlineOnRealConnection(t *testing.T) {
	g := &Gateway{BodyReadTimeout: caddy.Duration(time.Second)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wrapped := newUpstreamWriter(w)
		if timer := g.bodyDeadline(wrapped, r); timer.w == nil || timer.stop() {
			t.Error("a real connection's writer was bounded by a timer, not its read deadline")
		}
		allocs := testing.AllocsPerRun(100, func() { g.bodyDeadline(wrapped, r).stop() })
		if allocs != 0 {
			t.Errorf("bounding the body read costs %v allocations, want 0", allocs)
		}
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(validBody))
	must(t, err)
	_ = resp.Body.Close()
}

// TestBodyTimerClosesTheBody: without read deadlines, the timer closes a
// body that does not come in time, and says so.
func TestBodyTimerClosesTheBody(t *testing.T) {
	g := &Gateway{BodyReadTimeout: caddy.Duration(20 * time.Millisecond)}
	pr, pw := io.Pipe()
	defer pw.Close()
	r := httptest.NewRequest(http.MethodPost, testPath, pr)
	timer := g.bodyDeadline(httptest.NewRecorder(), r)
	if timer.timer == nil {
		t.Fatal("a recorder's read was bounded by a deadline it does not have")
	}
	if _, err := io.ReadAll(r.Body); err == nil {
		t.Fatal("the stalled body read ended without an error")
	}
	if !timer.stop() {
		t.Fatal("the timer closed the body but stop says it did not fire")
	}

	r = httptest.NewRequest(http.MethodPost, testPath, strings.NewReader(validBody))
	timer = g.bodyDeadline(httptest.NewRecorder(), r)
	_, _ = io.ReadAll(r.Body)
	if timer.stop() {
		t.Fatal("stop says the timer fired for a body read in time")
	}
}

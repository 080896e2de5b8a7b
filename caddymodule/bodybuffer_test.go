package caddymodule

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
)

func filledBodyBuffer(data []byte) *bodyBuffer {
	b := newBodyBuffer(len(data))
	if err := b.fill(bytes.NewReader(data), len(data)+1); err != nil {
		panic(err)
	}
	return b
}

// TestBodyBufferFill: the body is read whole, with no growth when the
// buffer has one byte to spare, and up to the limit only.
func TestBodyBufferFill(t *testing.T) {
	data := []byte(validBody)
	for _, tc := range []struct {
		name       string
		size       int
		limit      int
		want       []byte
		keepsSpace bool
	}{
		{name: "declared length", size: len(data) + 1, limit: 1 << 20, want: data, keepsSpace: true},
		{name: "unknown length", size: 0, limit: 1 << 20, want: data},
		{name: "over the limit", size: 0, limit: 100, want: data[:100]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBodyBuffer(tc.size)
			defer b.release()
			capacity := cap(*b.buf)
			must(t, b.fill(&trickle{data: data, step: 7}, tc.limit))
			if !bytes.Equal(b.bytes(), tc.want) {
				t.Fatalf("read %d bytes, want %d", len(b.bytes()), len(tc.want))
			}
			if tc.keepsSpace && cap(*b.buf) != capacity {
				t.Fatalf("the buffer grew from %d to %d bytes for a body of %d", capacity, cap(*b.buf), len(data))
			}
		})
	}
	b := newBodyBuffer(0)
	defer b.release()
	broken := errors.New("connection reset")
	if err := b.fill(io.MultiReader(bytes.NewReader(data[:10]), iotest.ErrReader(broken)), 1<<20); !errors.Is(err, broken) || len(b.bytes()) != 10 {
		t.Fatalf("a failing body: %v after %d bytes, want the error after 10", err, len(b.bytes()))
	}
}

// trickle reads its data step bytes at a time, as a slow client sends it.
type trickle struct {
	data []byte
	step int
}

func (r *trickle) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.step)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// churnBodyBuffers takes and fills pooled buffers as other requests would,
// so that a buffer given back too early is overwritten.
func churnBodyBuffers(size int) {
	for range 50 {
		other := filledBodyBuffer(bytes.Repeat([]byte{'X'}, size))
		other.release()
	}
}

func TestBodyBufferOutlivesItsHandler(t *testing.T) {
	data := []byte(validBody)
	b := filledBodyBuffer(data)
	r := b.reader()
	b.release() // the handler is done; the transport still holds r
	churnBodyBuffers(len(data))
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %q, %v after the handler let go; want the body", got, err)
	}
	must(t, r.Close())
	must(t, r.Close()) // a second Close must not give the buffer back twice
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, errBodyClosed) {
		t.Fatalf("read after Close: %v, want errBodyClosed", err)
	}
	if _, err := b.reader().Read(make([]byte, 1)); !errors.Is(err, errBodyClosed) {
		t.Fatalf("a reader asked for after every release read: %v, want errBodyClosed", err)
	}
}

func TestBodyBufferHeldByEveryReader(t *testing.T) {
	data := []byte(validBody)
	b := filledBodyBuffer(data)
	first, second := b.reader(), b.reader() // r.Body and a GetBody retry
	must(t, first.Close())
	b.release()
	churnBodyBuffers(len(data))
	if got, _ := io.ReadAll(second); !bytes.Equal(got, data) {
		t.Fatalf("the second reader read %q once the first closed; want the body", got)
	}
	must(t, second.Close())
}

// TestBodyBufferCloseDuringRead closes readers while other goroutines read
// them and reuse the pool: every read returns a prefix of the right body or
// errBodyClosed, never another request's bytes (and -race sees no race).
func TestBodyBufferCloseDuringRead(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 400)
	var wg sync.WaitGroup
	for range 20 {
		b := filledBodyBuffer(data)
		r := b.reader()
		b.release()
		wg.Add(2)
		go func() {
			defer wg.Done()
			var got []byte
			chunk := make([]byte, 64)
			for {
				n, err := r.Read(chunk)
				got = append(got, chunk[:n]...)
				if err != nil {
					if !errors.Is(err, io.EOF) && !errors.Is(err, errBodyClosed) {
						t.Errorf("read: %v", err)
					}
					break
				}
			}
			if !bytes.HasPrefix(data, got) {
				t.Error("a reader returned bytes that are not its body's")
			}
		}()
		go func() {
			defer wg.Done()
			_ = r.Close()
			churnBodyBuffers(len(data))
		}()
	}
	wg.Wait()
}

// TestBodyBuffersRecycledThroughProxy checks through a real Caddy and
// reverse_proxy that accepted requests give their buffers back (the
// transport closes the body), and that the upstream still gets each body
// exactly.
func TestBodyBuffersRecycledThroughProxy(t *testing.T) {
	f := newVerdictFixture(t, "")
	var created atomic.Int64
	defaultNew := bodyBuffers.New
	bodyBuffers.New = func() any { created.Add(1); return defaultNew() }
	t.Cleanup(func() { bodyBuffers.New = defaultNew })

	const requests = 80
	for i := range requests {
		body := paddedBody(2048 + 50*i)
		resp := f.gw.post(t, testPath, f.k256.sign(t, validClaims(body), false), body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
		got := f.up.received()
		if last := got[len(got)-1].body; string(last) != body {
			t.Fatalf("request %d: the upstream received other bytes than were sent", i)
		}
	}
	// A garbage collection may empty the pool now and then, and under -race
	// sync.Pool drops a quarter of what it is given on purpose; without
	// recycling every request would need a new buffer.
	if n := created.Load(); n > requests/2 {
		t.Fatalf("%d buffers were created for %d requests: bodies are not given back", n, requests)
	}
	if testing.Verbose() {
		t.Logf("%d buffers created for %d requests", created.Load(), requests)
	}
}

// TestBodyBufferSurvivesRetryAfterDialError: when the first upstream cannot
// be dialled, reverse_proxy retries the next one with the same body, which
// must still be whole (the transport closes a body it never sent).
func TestBodyBufferSurvivesRetryAfterDialError(t *testing.T) {
	k := newTestKey(t, "k256", "ES256")
	up := newUpstream(t, nil)
	nobody := freePort(t) // nothing listens there
	gw := startCaddy(t, fmt.Sprintf(`	handle {
		checkout_gateway {
			jwks_file %s
		}
		reverse_proxy 127.0.0.1:%d %s {
			lb_policy round_robin
			lb_retries 1
		}
	}`, writeJWKS(t, k), nobody, up.hostPort()))

	// Round robin sends every other first attempt to the dead upstream.
	const requests = 4
	for i := range requests {
		body := paddedBody(1024 + i)
		resp := gw.post(t, testPath, k.sign(t, validClaims(body), false), body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
		got := up.received()
		if len(got) != i+1 || string(got[i].body) != body {
			t.Fatalf("request %d: the live upstream did not receive the body whole", i)
		}
	}
}

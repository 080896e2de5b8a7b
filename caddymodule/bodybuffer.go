package caddymodule

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// maxPooledBody is the largest buffer kept for reuse: with a raised
// max_body_size, one outsized request should not pin its buffer for ever.
const maxPooledBody = 1 << 20

var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// errBodyClosed is what a body reader returns once closed: its buffer may
// already hold another request.
var errBodyClosed = errors.New("request body read after close")

// bodyBuffer holds one request's body in a pooled buffer. The handler and
// every reader handed to the upstream each hold a reference, and the
// buffer goes back to the pool only when all are given up: net/http's
// RoundTrip may still be writing the body after the response has arrived,
// and only the reader's Close says it has finished.
type bodyBuffer struct {
	mu   sync.Mutex
	buf  *bytes.Buffer
	refs int
}

func newBodyBuffer(size int) *bodyBuffer {
	buf := bodyBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	buf.Grow(size)
	return &bodyBuffer{buf: buf, refs: 1}
}

// bytes is the body; valid until release.
func (b *bodyBuffer) bytes() []byte { return b.buf.Bytes() }

// release gives up the handler's reference.
func (b *bodyBuffer) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.unref()
}

func (b *bodyBuffer) unref() {
	b.refs--
	if b.refs == 0 {
		if b.buf.Cap() <= maxPooledBody {
			bodyBuffers.Put(b.buf)
		}
		b.buf = nil
	}
}

// reader returns a reader of the body that holds a reference until closed.
// Asked for after every reference is gone, it returns one that reads
// nothing but errBodyClosed.
func (b *bodyBuffer) reader() io.ReadCloser {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf == nil {
		return &bodyReader{body: b, closed: true}
	}
	b.refs++
	return &bodyReader{body: b, r: bytes.NewReader(b.buf.Bytes())}
}

type bodyReader struct {
	body   *bodyBuffer
	r      *bytes.Reader
	closed bool
}

// Read holds the buffer's lock so that a Close from another goroutine
// cannot hand the buffer to another request in the middle of a copy.
func (r *bodyReader) Read(p []byte) (int, error) {
	r.body.mu.Lock()
	defer r.body.mu.Unlock()
	if r.closed {
		return 0, errBodyClosed
	}
	return r.r.Read(p)
}

func (r *bodyReader) Close() error {
	r.body.mu.Lock()
	defer r.body.mu.Unlock()
	if !r.closed {
		r.closed = true
		r.body.unref()
	}
	return nil
}

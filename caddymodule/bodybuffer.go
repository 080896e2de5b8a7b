package caddymodule

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"sync"
)

// maxPooledBody is the largest buffer kept for reuse: with a raised
// max_body_size, one outsized request should not pin its buffer for ever.
const maxPooledBody = 1 << 20

var bodyBuffers = sync.Pool{New: func() any { return new([]byte) }}

// errBodyClosed is what a body reader returns once closed: its buffer may
// already hold another request.
var errBodyClosed = errors.New("request body read after close")

// bodyBuffer holds one request's body in a pooled buffer. The handler and
// every reader handed to the upstream each hold a reference, and the
// buffer goes back to the pool only when all are given up: net/http's
// RoundTrip may still be writing the body after the response has arrived,
// and only the reader's Close says it has finished.
type bodyBuffer struct {
	mu    sync.Mutex
	buf   *[]byte // nil once given back
	refs  int
	first bodyReader // the request's own reader, here to spare an allocation
	given bool       // first has been handed out
}

func newBodyBuffer(size int) *bodyBuffer {
	buf := bodyBuffers.Get().(*[]byte)
	*buf = slices.Grow((*buf)[:0], size)
	return &bodyBuffer{buf: buf, refs: 1}
}

// bytes is the body; valid until release.
func (b *bodyBuffer) bytes() []byte {
	data := *b.buf
	return data[:len(data):len(data)] // capped: past it may lie an earlier request's bytes
}

// fill reads r to its end, or until the buffer holds limit bytes. It grows
// only when full, so a buffer sized one byte past a declared length takes
// the whole body and sees its end without growing.
func (b *bodyBuffer) fill(r io.Reader, limit int) error {
	data := *b.buf
	defer func() { *b.buf = data }()
	for len(data) < limit {
		if len(data) == cap(data) {
			data = slices.Grow(data, bytes.MinRead)
		}
		n, err := r.Read(data[len(data):min(cap(data), limit)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// release gives up the handler's reference.
func (b *bodyBuffer) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.unref()
}

func (b *bodyBuffer) unref() {
	b.refs--
	if b.refs == 0 {
		if cap(*b.buf) <= maxPooledBody {
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
	if !b.given {
		b.given = true
		b.first = bodyReader{body: b}
		return &b.first
	}
	return &bodyReader{body: b}
}

type bodyReader struct {
	body   *bodyBuffer
	read   int // bytes read so far
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
	rest := (*r.body.buf)[r.read:]
	if len(rest) == 0 {
		return 0, io.EOF
	}
	n := copy(p, rest)
	r.read += n
	return n, nil
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

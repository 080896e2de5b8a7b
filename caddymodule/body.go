package caddymodule

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
)

// checkMediaType accepts exactly one Content-Type, application/json with no
// parameter but charset=utf-8, and only the identity content coding: the
// body is hashed and parsed as the UTF-8 bytes sent, so a second
// Content-Type or another charset would let the upstream read other text
// from the same bytes.
func checkMediaType(r *http.Request) *envelope.Rejection {
	values := r.Header.Values("Content-Type")
	if len(values) != 1 {
		return envelope.Reject(envelope.ReasonMediaType, "Content-Type must be sent exactly once, as application/json")
	}
	if !isJSONUTF8(values[0]) {
		return envelope.Reject(envelope.ReasonMediaType, "Content-Type must be application/json, with no parameter but charset=utf-8")
	}
	for _, coding := range r.Header.Values("Content-Encoding") {
		for c := range strings.SplitSeq(coding, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return envelope.Reject(envelope.ReasonContentEncoding, "Content-Encoding %s is not accepted; send the body uncompressed", envelope.Clip(c))
			}
		}
	}
	return nil
}

// readBody reads the whole body, bounded in size and in time, so that an
// accepted request can be forwarded with exactly the bytes that were hashed.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) (*bodyBuffer, *envelope.Rejection) {
	if r.ContentLength > g.MaxBodySize {
		return nil, envelope.Reject(envelope.ReasonBodyTooLarge, "the body is %d bytes, over the %d-byte limit", r.ContentLength, g.MaxBodySize)
	}
	if r.Body == nil || r.Body == http.NoBody {
		return newBodyBuffer(0), nil
	}
	timer := g.bodyDeadline(w, r)
	size := int64(bytes.MinRead)
	if r.ContentLength >= 0 {
		size = r.ContentLength + 1 // +1 so the final read sees EOF without growing
	}
	body := newBodyBuffer(int(size))
	err := body.fill(r.Body, int(g.MaxBodySize+1))
	timedOut := timer.stop()
	var rej *envelope.Rejection
	switch {
	case err != nil && (timedOut || isTimeout(err)):
		rej = envelope.Reject(envelope.ReasonBodyTimeout, "the body was not complete within %s", time.Duration(g.BodyReadTimeout))
	case r.ContentLength >= 0 && int64(len(body.bytes())) < r.ContentLength:
		// HTTP/1.1 and HTTP/2 report a short body as a read error, HTTP/3 as
		// a plain end of the stream: one verdict for all three.
		rej = envelope.Reject(envelope.ReasonBodyLength, "the body ended after %d bytes; its Content-Length declares %d", len(body.bytes()), r.ContentLength)
	case err != nil:
		rej = envelope.Reject(envelope.ReasonBodyUnreadable, "the body could not be read")
	case int64(len(body.bytes())) > g.MaxBodySize:
		rej = envelope.Reject(envelope.ReasonBodyTooLarge, "the body is over the %d-byte limit", g.MaxBodySize)
	}
	if rej != nil {
		body.release()
		return nil, rej
	}
	return body, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// bodyTimer ends a body read that takes too long: through the connection's
// read deadline where the server supports it, otherwise by closing the body.
type bodyTimer struct {
	w     http.ResponseWriter // whose read deadline bounds the read, if set
	timer *time.Timer         // closes the body, when the deadline cannot
}

// bodyDeadline starts the bound. Every server the gateway runs in (HTTP/1,
// HTTP/2, HTTP/3) has read deadlines, which cost no allocation; the timer
// is for writers without one, such as httptest's recorder.
func (g *Gateway) bodyDeadline(w http.ResponseWriter, r *http.Request) bodyTimer {
	timeout := time.Duration(g.BodyReadTimeout)
	// Asking first spares the error ResponseController builds for a writer
	// without deadlines.
	if canSetReadDeadline(w) && http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout)) == nil {
		return bodyTimer{w: w}
	}
	body := r.Body
	return bodyTimer{timer: time.AfterFunc(timeout, func() { _ = body.Close() })}
}

// stop ends the bound once the read is over and reports whether the timer
// had already closed the body.
func (t bodyTimer) stop() (fired bool) {
	if t.timer != nil {
		return !t.timer.Stop()
	}
	// Clear the deadline: one left behind would let the server's background
	// read cancel the request while it is proxied.
	_ = http.NewResponseController(t.w).SetReadDeadline(time.Time{})
	return false
}

// canSetReadDeadline says whether http.ResponseController can set w's read
// deadline, looking the way it does: through Unwrap, to a writer with
// SetReadDeadline.
func canSetReadDeadline(w http.ResponseWriter) bool {
	for {
		switch t := w.(type) {
		case interface{ SetReadDeadline(time.Time) error }:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}

// stopReadingBody makes a refusal that left the body unread go out at once
// and close the connection. Without it, Go's HTTP/1 server reads up to
// 256 KiB of the unread body, at whatever pace the client sends it, before
// it writes the answer; with Connection: close alone, it still reads that
// much after the answer before closing. A read deadline in the past makes
// those reads fail at once. HTTP/2 and HTTP/3 reset just the stream.
func stopReadingBody(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 1 || r.ContentLength == 0 {
		return
	}
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

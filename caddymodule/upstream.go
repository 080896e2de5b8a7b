package caddymodule

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// maxUpstreamErrorBody bounds how much of an upstream error answer is held
// to decide whether it is already an envelope; a larger one is not.
const maxUpstreamErrorBody = 64 << 10

// maxLoggedUpstreamText bounds the upstream's own error text in the log.
const maxLoggedUpstreamText = 512

// envelopeTypes are the Types the provider documents.
var envelopeTypes = []string{typeInvalidMessage, typeUnexpected, typeResourceNotFound, typeUnauthorized, typeForbidden, typeInsufficient}

// upstreamWriter passes 2xx and 3xx answers straight through, streamed, and
// holds back 4xx and 5xx answers so that only envelopes reach the client.
type upstreamWriter struct {
	*caddyhttp.ResponseWriterWrapper
	status      int  // status of a held-back error answer
	holding     bool // an error answer is being held back
	wroteHeader bool // a response has started towards the client
	overflow    bool // the held-back body was larger than the bound
	held        bytes.Buffer
}

func newUpstreamWriter(w http.ResponseWriter) *upstreamWriter {
	return &upstreamWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
}

func (u *upstreamWriter) WriteHeader(status int) {
	if u.wroteHeader || u.holding {
		return
	}
	if status < http.StatusOK {
		u.ResponseWriterWrapper.WriteHeader(status)
		return
	}
	if status >= http.StatusBadRequest {
		u.status, u.holding = status, true
		return
	}
	u.wroteHeader = true
	u.ResponseWriterWrapper.WriteHeader(status)
}

func (u *upstreamWriter) Write(p []byte) (int, error) {
	if !u.wroteHeader && !u.holding {
		u.WriteHeader(http.StatusOK)
	}
	if !u.holding {
		return u.ResponseWriterWrapper.Write(p)
	}
	room := maxUpstreamErrorBody + 1 - u.held.Len()
	if room > 0 {
		u.held.Write(p[:min(len(p), room)])
	}
	u.overflow = u.held.Len() > maxUpstreamErrorBody
	return len(p), nil
}

// ReadFrom keeps io.Copy from bypassing Write, and so the holding back of
// error answers, through the wrapped writer's own ReadFrom.
func (u *upstreamWriter) ReadFrom(r io.Reader) (int64, error) {
	if !u.wroteHeader && !u.holding {
		u.WriteHeader(http.StatusOK)
	}
	if u.holding {
		return io.Copy(struct{ io.Writer }{u}, r)
	}
	return u.ResponseWriterWrapper.ReadFrom(r)
}

// Flush passes through only for answers that stream to the client.
func (u *upstreamWriter) Flush() {
	if !u.holding {
		_ = http.NewResponseController(u.ResponseWriterWrapper.ResponseWriter).Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (u *upstreamWriter) Unwrap() http.ResponseWriter { return u.ResponseWriterWrapper.ResponseWriter }

// isEnvelope says whether a held-back answer is already the provider's
// error envelope, which then passes through unchanged.
func (u *upstreamWriter) isEnvelope() bool {
	if u.overflow {
		return false
	}
	var env struct {
		Type     *string         `json:"Type"`
		Instance *string         `json:"Instance"`
		Detail   json.RawMessage `json:"Detail"`
	}
	if err := json.Unmarshal(u.held.Bytes(), &env); err != nil {
		return false
	}
	return env.Type != nil && slices.Contains(envelopeTypes, *env.Type) && env.Instance != nil
}

// releaseHeld writes a held-back envelope to the client as it came.
func (u *upstreamWriter) releaseHeld() {
	u.wroteHeader = true
	u.ResponseWriterWrapper.WriteHeader(u.status)
	_, _ = u.ResponseWriterWrapper.Write(u.held.Bytes())
}

// upstreamText is the start of the upstream's own error text, for the log.
func (u *upstreamWriter) upstreamText() string {
	b := u.held.Bytes()
	return string(b[:min(len(b), maxLoggedUpstreamText)])
}

// normalisedType maps an upstream error status to the envelope Type that
// SPEC section 4 gives it.
func normalisedType(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusConflict,
		http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
		return typeInvalidMessage
	case http.StatusUnauthorized:
		return typeUnauthorized
	case http.StatusForbidden:
		return typeForbidden
	case http.StatusNotFound:
		return typeResourceNotFound
	}
	return typeUnexpected
}

// clearUpstreamHeaders removes the headers an upstream error answer set,
// keeping those that were there before it (Caddy's own), so a replacement
// envelope does not carry the upstream's Content-Length or Content-Type.
func clearUpstreamHeaders(h http.Header, before map[string]bool) {
	for name := range h {
		if !before[name] {
			delete(h, name)
		}
	}
}

package caddymodule

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/checkoutgw/checkoutgw/envelope"
	"go.uber.org/zap"
)

// maxUpstreamErrorBody bounds how much of an upstream error answer is held
// to decide whether it is already an envelope; a larger one is not.
const maxUpstreamErrorBody = 64 << 10

// loggedDigestHexLen is how much of the SHA-256 of an upstream error body is
// logged: enough to tell answers apart and find them in the upstream's own
// logs, too little to stand in for the text.
const loggedDigestHexLen = 16

// errConnectionKept is what a handler after the gateway gets when it tries
// to take over the client connection: bytes sent on a taken-over connection
// would reach the upstream unchecked.
var errConnectionKept = errors.New("checkout_gateway: the client connection cannot be taken over behind the gateway")

// Values of the upstream_fault log field.
const (
	faultNotAnEnvelope  = "not_an_envelope"
	faultCutShort       = "cut_short"
	faultProtocolSwitch = "protocol_switch"
)

// upstreamWriter passes 2xx and 3xx answers straight through, streamed, and
// holds back 4xx and 5xx answers so that only envelopes reach the client,
// and 2xx answers whose response schema validate_responses checks. It
// relays no 1xx and lets no one take over the client connection.
type upstreamWriter struct {
	caddyhttp.ResponseWriterWrapper
	callerHeaders []string // response headers set before the upstream answered
	// checksSuccess, when set, says which 2xx statuses are held for a check.
	checksSuccess func(status int) bool
	// streamsOversized lets a held 2xx answer that outgrows the bound go on
	// streamed, unchecked, instead of being refused.
	streamsOversized  bool
	streamedUnchecked bool      // a held 2xx answer outgrew the bound and was let through
	status            int       // status of a held-back answer
	holding           bool      // an answer is being held back
	limit             int       // how much of the held-back body is kept
	wroteHeader       bool      // a response has started towards the client
	switching         bool      // the upstream answered 101 or a handler tried to take the connection
	overflow          bool      // the held-back body was larger than the bound
	contentType       []string  // Content-Type of the held-back answer
	received          int64     // size of the held-back body, past the bound too
	digest            hash.Hash // SHA-256 of the whole held-back body
	held              bytes.Buffer
	// callerHeaderRoom holds callerHeaders without an allocation for the
	// few that Caddy and earlier handlers usually set.
	callerHeaderRoom [8]string
}

func newUpstreamWriter(w http.ResponseWriter) *upstreamWriter {
	return &upstreamWriter{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
}

// noteCallerHeaders records the response headers present before the
// upstream is asked, so that a replacement envelope keeps only those.
func (u *upstreamWriter) noteCallerHeaders() {
	u.callerHeaders = u.callerHeaderRoom[:0]
	for name := range u.Header() {
		u.callerHeaders = append(u.callerHeaders, name)
	}
}

func (u *upstreamWriter) WriteHeader(status int) {
	if status < http.StatusOK {
		// Caddy relays a 103 or 100 from the transport's own goroutine, so
		// only the 101, which comes from the handler's, may touch state.
		if status == http.StatusSwitchingProtocols {
			u.switching = true
		}
		return
	}
	if u.wroteHeader || u.holding {
		return
	}
	if status >= http.StatusBadRequest || u.checksSuccess != nil && u.checksSuccess(status) {
		u.status, u.holding = status, true
		u.limit = maxUpstreamErrorBody
		if status < http.StatusBadRequest {
			u.limit = maxCheckedAnswer
		}
		u.contentType = slices.Clone(u.Header().Values("Content-Type"))
		u.digest = sha256.New()
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
	u.received += int64(len(p))
	u.digest.Write(p)
	kept := min(len(p), max(u.limit+1-u.held.Len(), 0))
	u.held.Write(p[:kept])
	u.overflow = u.held.Len() > u.limit
	if u.overflow && u.streamsOversized && u.status < http.StatusBadRequest {
		// Too large to check: what was held goes first, then the rest
		// streams as it would with the check off.
		u.releaseHeld()
		u.holding, u.streamedUnchecked = false, true
		if _, err := u.ResponseWriterWrapper.Write(p[kept:]); err != nil {
			return kept, err
		}
	}
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

// Hijack refuses, so that http.ResponseController stops here instead of
// unwrapping to the real connection: reverse_proxy would splice it to the
// upstream after a 101.
func (u *upstreamWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	u.switching = true
	return nil, nil, errConnectionKept
}

// Unwrap lets http.ResponseController reach the real writer.
func (u *upstreamWriter) Unwrap() http.ResponseWriter { return u.ResponseWriterWrapper.ResponseWriter }

// isEnvelope says whether a held-back answer is exactly the provider's error
// envelope, which then passes through unchanged.
func (u *upstreamWriter) isEnvelope() bool {
	return !u.overflow && isDocumentedEnvelope(u.contentType, u.held.Bytes())
}

// releaseHeld writes a held-back envelope to the client as it came.
func (u *upstreamWriter) releaseHeld() {
	u.wroteHeader = true
	u.ResponseWriterWrapper.WriteHeader(u.status)
	_, _ = u.ResponseWriterWrapper.Write(u.held.Bytes())
}

// clearUpstreamHeaders removes the headers the upstream set, keeping those
// that were there before it (Caddy's own), so a replacement envelope does
// not carry the upstream's Content-Length, Content-Type or Upgrade.
func (u *upstreamWriter) clearUpstreamHeaders() {
	maps.DeleteFunc(u.Header(), func(name string, _ []string) bool { return !slices.Contains(u.callerHeaders, name) })
}

// heldFields describe a held-back answer for the log without its text, which
// may echo the request's customer data: its status, media type, size and a
// digest prefix to find it by.
func (u *upstreamWriter) heldFields(fault string) []zap.Field {
	return []zap.Field{
		zap.String("upstream_fault", fault),
		zap.Int("upstream_status", u.status),
		zap.String("upstream_content_type", loggedMediaType(u.contentType)),
		zap.Int64("upstream_length", u.received),
		zap.String("upstream_sha256", hex.EncodeToString(u.digest.Sum(nil))[:loggedDigestHexLen]),
	}
}

// loggedMediaType is the media type of a Content-Type, without parameters
// (a boundary or a name could carry anything) and bounded.
func loggedMediaType(values []string) string {
	switch len(values) {
	case 0:
		return ""
	case 1:
		mediaType, _, err := mime.ParseMediaType(values[0])
		if err != nil {
			return "(unparseable)"
		}
		return envelope.Clip(mediaType)
	}
	return "(repeated)"
}

// upstreamStatus is the status of reverse_proxy's last upstream answer, or
// 0 when no reverse_proxy has had one.
func upstreamStatus(r *http.Request) int {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return 0
	}
	status, _ := repl.Get("http.reverse_proxy.status_code")
	code, _ := status.(int)
	return code
}

// isDocumentedEnvelope says whether an answer is exactly the provider's
// error envelope: one Content-Type, application/json with at most
// charset=utf-8, and a body of the envelope's shape. Anything looser could
// carry what the upstream echoed from the request.
func isDocumentedEnvelope(contentType []string, body []byte) bool {
	return len(contentType) == 1 && isJSONUTF8(contentType[0]) && envelope.IsDocumented(body)
}

// isJSONUTF8 says whether a Content-Type is application/json with no
// parameter but charset=utf-8: the one media type the gateway accepts from
// clients and passes through from the upstream as an envelope.
func isJSONUTF8(contentType string) bool {
	// What clients send, spelled exactly, needs no parse; ParseMediaType
	// allocates the parameter map.
	if equalFoldASCII(contentType, "application/json") || equalFoldASCII(contentType, "application/json; charset=utf-8") {
		return true
	}
	return parsesAsJSONUTF8(contentType)
}

// parsesAsJSONUTF8 is isJSONUTF8's general case.
func parsesAsJSONUTF8(contentType string) bool {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil || mediaType != "application/json" {
		return false
	}
	for name, value := range params {
		if name != "charset" || !strings.EqualFold(value, "utf-8") {
			return false
		}
	}
	return true
}

// equalFoldASCII says whether s is lower, a lower-case ASCII string, in
// any ASCII case. strings.EqualFold would also match Unicode folds such
// as U+017F for s, which the media type grammar does not allow.
func equalFoldASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/keyring"
	"github.com/checkoutgw/checkoutgw/signedrequest"
)

// Placeholders set for handle_errors blocks and access logs.
const (
	placeholderReason = "http.checkout_gateway.reason"
	placeholderKid    = "http.checkout_gateway.kid"
)

// statusClientClosed is Caddy's status for a client that went away while the
// upstream was being asked: nobody is left to answer.
const statusClientClosed = 499

// ServeHTTP judges the request, cheapest checks first, and either answers
// the refusal itself or forwards the request with its exact bytes. A panic
// becomes a 500 envelope while nothing has been sent yet.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	uw := newUpstreamWriter(w)
	defer g.recoverPanic(uw, r)
	tok, key, body, rej := g.judge(w, r)
	if tok != nil {
		defer tok.Release()
	}
	if body != nil {
		defer body.release()
	}
	if rej != nil {
		if body == nil {
			stopReadingBody(w, r)
		}
		g.refuse(w, r, rej, tok)
		return nil
	}
	return g.forward(uw, r, next, body, key)
}

// judge runs the verdict table of SPEC section 3 in order. It returns the
// token whenever one was parsed, so that refusals can be logged with its kid
// and alg, the key only when one verified the token (under report_only a
// request can be forwarded without), and the body whenever it was read
// whole, so that a refusal without it knows the body was left unread.
func (g *Gateway) judge(w http.ResponseWriter, r *http.Request) (*signedrequest.Token, *keyring.Key, *bodyBuffer, *envelope.Rejection) {
	if rej := checkEarlyData(r); rej != nil {
		return nil, nil, nil, rej
	}
	path, rawQuery := clientTarget(r)
	if rej := checkPath(path); rej != nil {
		return nil, nil, nil, rej
	}
	query, rej := signedrequest.ParseQuery(rawQuery)
	if rej != nil {
		return nil, nil, nil, rej
	}
	if rej := g.checkHopByHop(r); rej != nil {
		return nil, nil, nil, rej
	}
	if rej := g.checkRoute(r, path); rej != nil {
		return nil, nil, nil, rej
	}
	f := &findings{}
	settle := func(tok *signedrequest.Token, rej *envelope.Rejection) *envelope.Rejection {
		return g.settle(r, tok, f, rej)
	}
	tok, key, rej := g.authenticate(r, path, query, settle)
	if rej != nil {
		return tok, nil, nil, rej
	}
	if key != nil {
		if rej := settle(tok, g.checkRateLimit(r.Context(), r, key)); rej != nil {
			return tok, key, nil, rej
		}
	}
	if rej := settle(tok, g.checkParameters(r, query)); rej != nil {
		return tok, key, nil, rej
	}
	if rej := settle(tok, g.checkOperationMediaType(r)); rej != nil {
		return tok, key, nil, rej
	}
	body, rej := g.readBody(w, r)
	if rej != nil {
		return tok, key, nil, rej
	}
	if rej := g.checkBody(r, tok, key != nil && !f.unverified, body.bytes(), settle); rej != nil {
		return tok, key, body, rej
	}
	if f.unverified {
		key = nil
	}
	g.countOperation(r, outcomeAccepted)
	return tok, key, body, nil
}

// settleFunc turns a failed check into the refusal to answer, or nil when
// report_only lets the request go on (see settle).
type settleFunc func(tok *signedrequest.Token, rej *envelope.Rejection) *envelope.Rejection

// checkBody runs the verdict rows that need the body and, once everything
// has passed, uses up the signature. Under report_only the bodyHash is
// compared whenever a token was parsed, and the signature is used up only
// when a key verified it.
func (g *Gateway) checkBody(r *http.Request, tok *signedrequest.Token, verified bool, body []byte, settle settleFunc) *envelope.Rejection {
	if tok != nil {
		if rej := settle(tok, signedrequest.CheckBodyHash(tok.Claims(), body)); rej != nil {
			return rej
		}
	}
	if rej := settle(tok, g.checkBodyContract(r, body)); rej != nil {
		return rej
	}
	if !verified {
		return nil
	}
	return settle(tok, g.checkReplay(r.Context(), tok))
}

// checkBodyContract holds the body to its operation's schema in openapi
// mode, and to the handler's schema otherwise.
func (g *Gateway) checkBodyContract(r *http.Request, body []byte) *envelope.Rejection {
	if routed, rej := g.checkOperationBody(r, body); routed {
		return rej
	}
	return g.schema.Check(body)
}

// forward hands the request on with the exact bytes that were hashed and
// tells the upstream which key signed it. What comes back is streamed if it
// succeeded; an error answer reaches the client only as an envelope, and a
// protocol switch not at all.
func (g *Gateway) forward(uw *upstreamWriter, r *http.Request, next caddyhttp.Handler, body *bodyBuffer, key *keyring.Key) error {
	size := len(body.bytes())
	r.Body = body.reader()
	r.GetBody = func() (io.ReadCloser, error) { return body.reader(), nil }
	r.ContentLength = int64(size)
	r.TransferEncoding = nil
	setContentLength(r.Header, size)
	if key != nil {
		r.Header[keyIDHeaderKey] = []string{key.Kid()}
		setPlaceholder(r, placeholderKid, key.Kid())
	} else {
		// Reported, not verified: no key vouches for it, and a client's own
		// header must not pass for the gateway's word.
		r.Header.Del(keyIDHeader)
	}

	w := uw.ResponseWriterWrapper.ResponseWriter
	uw.noteCallerHeaders()
	g.watchAnswer(uw, r)
	err := next.ServeHTTP(uw, r)
	switch {
	case uw.wroteHeader && err != nil:
		// The status is gone; only cutting the connection tells the client
		// that the answer is incomplete. recoverPanic logs it.
		panic(http.ErrAbortHandler)
	case uw.wroteHeader && uw.streamedUnchecked:
		g.answerStreamedUnchecked(uw, r)
		g.metrics.countAccepted()
		return nil
	case uw.wroteHeader:
		g.metrics.countAccepted()
		return nil
	case uw.holding && uw.status < http.StatusBadRequest && err != nil:
		uw.clearUpstreamHeaders()
		g.refuse(w, r, envelope.Reject(envelope.ReasonUpstreamError, "the checkout service's %d answer was cut short", uw.status), nil, append(uw.heldFields(faultCutShort), zap.Error(err))...)
		return nil
	case uw.holding && uw.status < http.StatusBadRequest:
		g.settleAnswer(w, uw, r)
		return nil
	case uw.holding && uw.isEnvelope():
		uw.releaseHeld()
		g.metrics.countAccepted()
		return nil
	case uw.holding:
		uw.clearUpstreamHeaders()
		g.metrics.countNormalised(uw.status)
		g.refuse(w, r, &envelope.Rejection{
			Reason:  envelope.ReasonUpstreamError,
			Verdict: envelope.Verdict{Status: uw.status, Type: envelope.NormalisedType(uw.status)},
			Detail:  fmt.Sprintf("the checkout service answered %d %s", uw.status, http.StatusText(uw.status)),
		}, nil, uw.heldFields(faultNotAnEnvelope)...)
		return nil
	case err == nil && (uw.switching || upstreamStatus(r) == http.StatusSwitchingProtocols):
		// reverse_proxy gives up on a 101 it cannot splice and returns
		// without an answer, which net/http would send as an empty 200.
		uw.clearUpstreamHeaders()
		g.refuse(w, r, envelope.Reject(envelope.ReasonUpstreamError, "the checkout service tried to switch protocols, which the gateway does not allow"), nil, zap.String("upstream_fault", faultProtocolSwitch), zap.Int("upstream_status", upstreamStatus(r)))
		return nil
	case err == nil:
		g.metrics.countAccepted()
		return nil
	}
	var he caddyhttp.HandlerError
	switch {
	case errors.As(err, &he) && he.StatusCode == statusClientClosed:
		return err
	case errors.As(err, &he) && he.StatusCode == http.StatusGatewayTimeout:
		g.refuse(w, r, envelope.Reject(envelope.ReasonUpstreamTimeout, "the checkout service did not answer in time"), nil, zap.Error(err))
	case errors.As(err, &he) && he.StatusCode >= 400 && he.StatusCode < 500:
		g.refuse(w, r, laterHandlerRefusal(uw, he.StatusCode), nil, zap.Error(err))
	default:
		g.refuse(w, r, envelope.Reject(envelope.ReasonUpstreamDown, "the checkout service could not be reached"), nil, zap.Error(err))
	}
	return nil
}

// setContentLength sets the Content-Length header to size, leaving it as
// it is when the client already sent exactly that: most bodies come with
// their length, and the new value would cost two allocations.
func setContentLength(h http.Header, size int) {
	var digits [20]byte
	text := strconv.AppendInt(digits[:0], int64(size), 10)
	if sent := h["Content-Length"]; len(sent) == 1 && sent[0] == string(text) {
		return
	}
	h["Content-Length"] = []string{string(text)}
}

// recoverPanic turns a panic into a 500 envelope and a log line that share
// the request's id, so the process and the connection live on. Once an
// answer has started, the connection is cut instead. An error answer that
// reverse_proxy gave up on while it was held has not started: it becomes a
// 502 envelope.
func (g *Gateway) recoverPanic(uw *upstreamWriter, r *http.Request) {
	recovered := recover()
	if recovered == nil {
		return
	}
	if uw.wroteHeader {
		g.logger.Warn("upstream answer cut short; client connection aborted", zap.String("instance", requestID(r)))
		panic(http.ErrAbortHandler)
	}
	w := uw.ResponseWriterWrapper.ResponseWriter
	if recovered == http.ErrAbortHandler && uw.holding && r.Context().Err() == nil {
		uw.clearUpstreamHeaders()
		g.refuse(w, r, envelope.Reject(envelope.ReasonUpstreamError, "the checkout service's %d answer was cut short", uw.status), nil, uw.heldFields(faultCutShort)...)
		return
	}
	if recovered == http.ErrAbortHandler {
		panic(recovered)
	}
	// The panic value itself is not logged: it could hold request data.
	g.refuse(w, r, envelope.Reject(envelope.ReasonInternal, "the gateway failed unexpectedly; quote the Instance to the operator"), nil,
		zap.String("panic_type", fmt.Sprintf("%T", recovered)), zap.StackSkip("stack", 2))
}

// refuse logs a rejection and answers it with the envelope. The log line and
// the envelope share the request's unique id.
func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, rej *envelope.Rejection, tok *signedrequest.Token, extra ...zap.Field) {
	instance := requestID(r)
	setPlaceholder(r, placeholderReason, string(rej.Reason))
	if tok != nil {
		setPlaceholder(r, placeholderKid, envelope.Clip(tok.Kid()))
	}
	outcome := outcomeRefused
	switch rej.Reason {
	case envelope.ReasonUpstreamError, envelope.ReasonUpstreamDown, envelope.ReasonUpstreamTimeout, envelope.ReasonResponseInvalid:
		outcome = outcomeUpstreamError
	}
	g.metrics.countRequest(outcome, rej.Reason)
	if outcome == outcomeRefused {
		g.countOperation(r, string(rej.Reason))
	}
	if ce := g.logger.Check(logLevel(rej), "request refused"); ce != nil {
		ce.Write(append(append(g.refusalFields(r, instance, rej, tok), g.operationFields(r)...), extra...)...)
	}
	env := envelope.Envelope{Type: rej.Type, Instance: instance, Action: g.actionOf(r), Detail: rej.Detail}
	env.SetFieldErrors(rej.Fields)
	allow := g.methodSet
	if rej.Allow != "" {
		allow = rej.Allow
	}
	envelope.Write(w, rej.Status, env, allow, rej.RetryAfter)
}

// refusalFields are the fields of a refusal's log line, reported or
// enforced: never a header value, the token or the body.
func (g *Gateway) refusalFields(r *http.Request, instance string, rej *envelope.Rejection, tok *signedrequest.Token) []zap.Field {
	fields := []zap.Field{
		zap.String("instance", instance),
		zap.String("reason", string(rej.Reason)),
		zap.Int("status", rej.Status),
		zap.String("handler", g.Action),
		zap.String("method", envelope.Clip(r.Method)),
		zap.String("host", envelope.Clip(r.Host)),
		zap.String("remote_addr", r.RemoteAddr),
	}
	if tok != nil {
		fields = append(fields, zap.String("kid", envelope.Clip(tok.Kid())), zap.String("alg", envelope.Clip(tok.Alg())))
	}
	if rej.Cause != nil {
		fields = append(fields, zap.Error(rej.Cause))
	}
	return fields
}

// logLevel is Info for a client's fault and Warn or Error for what an
// operator must look at.
func logLevel(rej *envelope.Rejection) zapcore.Level {
	switch {
	case rej.Reason == envelope.ReasonUpstreamError && rej.Status < http.StatusInternalServerError:
		return zapcore.WarnLevel
	case rej.Status >= http.StatusInternalServerError || rej.Reason == envelope.ReasonUpstreamError:
		return zapcore.ErrorLevel
	}
	return zapcore.InfoLevel
}

func setPlaceholder(r *http.Request, name, value string) {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set(name, value)
	}
}

// requestID is Caddy's unique id for the request, the same that
// {http.request.uuid} gives to access logs.
func requestID(r *http.Request) string {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return ""
	}
	id, _ := repl.GetString("http.request.uuid")
	return id
}

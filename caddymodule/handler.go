package caddymodule

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Placeholders set for handle_errors blocks and access logs.
const (
	placeholderReason = "http.checkout_gateway.reason"
	placeholderKid    = "http.checkout_gateway.kid"
)

// ServeHTTP judges the request, cheapest checks first, and either answers
// the refusal itself or forwards the request with its exact bytes.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	tok, key, body, rej := g.judge(w, r)
	if rej != nil {
		g.refuse(w, r, rej, tok)
		return nil
	}
	return g.forward(w, r, next, body, key)
}

// judge runs the verdict table of SPEC section 3 in order. It returns the
// token whenever one was parsed, so that refusals can be logged with its kid
// and alg.
func (g *Gateway) judge(w http.ResponseWriter, r *http.Request) (*token, *verificationKey, []byte, *rejection) {
	path, rawQuery := clientTarget(r)
	if rej := checkPath(path); rej != nil {
		return nil, nil, nil, rej
	}
	query, rej := parseQuery(rawQuery)
	if rej != nil {
		return nil, nil, nil, rej
	}
	if rej := checkHopByHop(r); rej != nil {
		return nil, nil, nil, rej
	}
	if rej := g.checkMethod(r); rej != nil {
		return nil, nil, nil, rej
	}
	tok, key, rej := g.authenticate(r, path, query)
	if rej != nil {
		return tok, nil, nil, rej
	}
	if rej := checkMediaType(r); rej != nil {
		return tok, key, nil, rej
	}
	body, rej := g.readBody(w, r)
	if rej != nil {
		return tok, key, nil, rej
	}
	if rej := checkBodyHash(&tok.claims, body); rej != nil {
		return tok, key, nil, rej
	}
	if len(body) == 0 {
		return tok, key, nil, reject(reasonBodyNotJSON, "the request body is empty; it must be a JSON object")
	}
	value, err := parseStrictJSON(body)
	if err != nil {
		return tok, key, nil, reject(reasonBodyNotJSON, "the request body is not strict JSON: %s", err)
	}
	if rej := g.schema.validate(value); rej != nil {
		return tok, key, nil, rej
	}
	return tok, key, body, nil
}

// forward hands the request on with the exact bytes that were hashed and
// tells the upstream which key signed it. A proxy error that reaches us
// before any response was written is answered with an envelope.
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, body []byte, key *verificationKey) error {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	r.Header.Set(keyIDHeader, key.kid)
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set(placeholderKid, key.kid)
	}

	rec := &writeTracker{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
	err := next.ServeHTTP(rec, r)
	if err == nil || rec.wroteHeader {
		return err
	}
	var he caddyhttp.HandlerError
	switch {
	case errors.As(err, &he) && he.StatusCode == http.StatusGatewayTimeout:
		g.refuse(w, r, reject(reasonUpstreamTimeout, "the checkout service did not answer in time"), nil)
	case errors.As(err, &he) && he.StatusCode == http.StatusBadGateway:
		g.refuse(w, r, reject(reasonUpstreamDown, "the checkout service could not be reached"), nil)
	default:
		return err
	}
	return nil
}

// writeTracker notes whether the next handler has begun a response, after
// which the status can no longer be changed.
type writeTracker struct {
	*caddyhttp.ResponseWriterWrapper
	wroteHeader bool
}

func (t *writeTracker) WriteHeader(status int) {
	if status >= 200 {
		t.wroteHeader = true
	}
	t.ResponseWriterWrapper.WriteHeader(status)
}

func (t *writeTracker) Write(p []byte) (int, error) {
	t.wroteHeader = true
	return t.ResponseWriterWrapper.Write(p)
}

// refuse logs a rejection and answers it with the envelope. The log line and
// the envelope share the request's unique id.
func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, rej *rejection, tok *token) {
	v := verdicts[rej.reason]
	instance := requestID(r)
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set(placeholderReason, string(rej.reason))
	}
	level := zapcore.InfoLevel
	if v.status >= http.StatusInternalServerError {
		level = zapcore.ErrorLevel
	}
	if ce := g.logger.Check(level, "request refused"); ce != nil {
		fields := []zap.Field{
			zap.String("instance", instance),
			zap.String("reason", string(rej.reason)),
			zap.Int("status", v.status),
			zap.String("remote_ip", r.RemoteAddr),
		}
		if tok != nil {
			fields = append(fields, zap.String("kid", tok.kid), zap.String("alg", tok.alg))
		}
		ce.Write(fields...)
	}
	env := envelope{Type: v.typ, Instance: instance, Action: g.Action, Detail: rej.detail}
	if len(rej.fields) > 0 {
		env.Extensions = &extensions{Request: rej.fields}
	}
	writeEnvelope(w, v.status, env, g.methodSet)
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

package caddymodule

import (
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/checkoutgw/checkoutgw/envelope"
)

// endToEndHeaders, with the configured signature header, may never be named
// in Connection: a hop that honoured it would strip the signature, the
// tenant's key, the body's framing or the gateway's own key-id header
// between the gateway and the upstream.
var endToEndHeaders = []string{"X-Api-Key", "Content-Type", "Content-Length", "Content-Encoding", keyIDHeader}

// methodOverrideHeaders make some frameworks treat a request as another
// method than the one signed. They are refused rather than removed: a client
// that sends one expects it to count, and silently dropping it would forward
// a different request from the one the client believes it made.
var methodOverrideHeaders = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// clientTarget is the path and raw query exactly as the client sent them,
// before any rewrite by an earlier handler.
func clientTarget(r *http.Request) (path, rawQuery string) {
	orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request)
	if !ok {
		orig = *r
	}
	target := orig.RequestURI
	if target == "" || !strings.HasPrefix(target, "/") {
		// HTTP/2 and absolute-form requests: the parsed URL is all there is.
		return orig.URL.EscapedPath(), orig.URL.RawQuery
	}
	path, rawQuery, _ = strings.Cut(target, "?")
	return path, rawQuery
}

// checkPath refuses a path with more than one spelling, so that the signed
// `path` claim can be compared byte for byte.
func checkPath(path string) *envelope.Rejection {
	if path == "" || path[0] != '/' {
		return envelope.Reject(envelope.ReasonPathNotCanonical, "the request path must start with /")
	}
	for _, bad := range []string{"%", "\\", ";", "\x00", "//"} {
		if strings.Contains(path, bad) {
			return envelope.Reject(envelope.ReasonPathNotCanonical, "the request path must not contain %q", bad)
		}
	}
	for seg := range strings.SplitSeq(path[1:], "/") {
		if seg == "." || seg == ".." {
			return envelope.Reject(envelope.ReasonPathNotCanonical, "the request path must not contain . or .. segments")
		}
	}
	return nil
}

// checkHopByHop refuses requests that ask a hop to drop an end-to-end header
// or to switch protocols, and requests with trailers, which could add
// headers after verification.
func (g *Gateway) checkHopByHop(r *http.Request) *envelope.Rejection {
	if len(r.Header.Values("Upgrade")) > 0 {
		return envelope.Reject(envelope.ReasonUpgrade, "protocol upgrades are not accepted here; send a plain HTTP request without Upgrade")
	}
	for _, value := range r.Header.Values("Connection") {
		for name := range strings.SplitSeq(value, ",") {
			name = strings.TrimSpace(name)
			switch {
			case strings.EqualFold(name, "Upgrade"):
				return envelope.Reject(envelope.ReasonUpgrade, "protocol upgrades are not accepted here; send a plain HTTP request without Upgrade")
			case strings.EqualFold(name, g.SignatureHeader) || slices.ContainsFunc(endToEndHeaders, func(h string) bool { return strings.EqualFold(h, name) }):
				return envelope.Reject(envelope.ReasonHopByHopHeader, "the Connection header must not name %s", envelope.Clip(http.CanonicalHeaderKey(name)))
			}
		}
	}
	if len(r.Trailer) > 0 || r.Header.Get("Trailer") != "" {
		return envelope.Reject(envelope.ReasonTrailers, "requests with trailers are not accepted")
	}
	for _, name := range methodOverrideHeaders {
		if _, present := r.Header[name]; present {
			return envelope.Reject(envelope.ReasonMethodOverride, "the %s header is not accepted: the request's own method is the one signed", name)
		}
	}
	return nil
}

func (g *Gateway) checkMethod(r *http.Request) *envelope.Rejection {
	if slices.Contains(g.Methods, r.Method) {
		return nil
	}
	return envelope.Reject(envelope.ReasonMethodNotAllowed, "method %s is not allowed here; use %s", envelope.Clip(r.Method), g.methodSet)
}

// checkEarlyData refuses a request that arrived as TLS early data (0-RTT,
// which Caddy accepts over HTTP/3 by default): anyone who captured those
// packets can send them again, with no key. A 425 tells the client to retry
// once the handshake is complete (RFC 8470).
func checkEarlyData(r *http.Request) *envelope.Rejection {
	if r.TLS != nil && !r.TLS.HandshakeComplete {
		return envelope.Reject(envelope.ReasonEarlyData, "the request arrived as TLS early data (0-RTT), which can be replayed; send it again after the handshake")
	}
	return nil
}

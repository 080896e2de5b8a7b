package caddymodule

import (
	"net/http"
	"net/url"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/keyring"
	"github.com/checkoutgw/checkoutgw/signedrequest"
)

// authenticate runs the token rows of the verdict table in their order:
// every check that needs no key (shape, header, claims, binding to method,
// path and query) before the one that does, so a forged or misdirected
// token never costs a signature verification. The checks themselves are
// the contract's, in signedrequest. Each failure goes through settle: under
// report_only the checks that can still run do, and the key is nil when
// none verified the token.
func (g *Gateway) authenticate(r *http.Request, path string, query url.Values, settle settleFunc) (*signedrequest.Token, *keyring.Key, *envelope.Rejection) {
	values := r.Header.Values(g.SignatureHeader)
	switch {
	case len(values) == 0:
		return nil, nil, settle(nil, envelope.Reject(envelope.ReasonTokenMissing, "the %s header is missing", g.SignatureHeader))
	case len(values) > 1:
		return nil, nil, settle(nil, envelope.Reject(envelope.ReasonTokenMalformed, "the %s header is repeated", g.SignatureHeader))
	case values[0] == "":
		return nil, nil, settle(nil, envelope.Reject(envelope.ReasonTokenMissing, "the %s header is empty", g.SignatureHeader))
	}
	tok, rej := signedrequest.Parse(values[0])
	if rej != nil {
		return nil, nil, settle(nil, rej)
	}
	if rej := settle(tok, g.policy.CheckAlgorithm(tok)); rej != nil {
		return tok, nil, rej
	}
	var room [signedrequest.DefaultMaxKeyAttempts]*keyring.Key
	candidates, rej := g.candidates(room[:0], r, tok)
	if rej := settle(tok, rej); rej != nil {
		return tok, nil, rej
	}
	if rej := settle(tok, g.policy.CheckClaims(tok.Claims())); rej != nil {
		return tok, nil, rej
	}
	if rej := settle(tok, signedrequest.CheckBinding(tok.Claims(), r.Method, path, query)); rej != nil {
		return tok, nil, rej
	}
	if candidates == nil {
		return tok, nil, nil
	}
	key, rej := g.policy.Verify(tok, candidates)
	return tok, key, settle(tok, rej)
}

// candidates are the keys that may verify the token, once keys are loaded:
// with api_keys, only those registered for the request's X-Api-Key. They
// are appended to dst.
func (g *Gateway) candidates(dst []*keyring.Key, r *http.Request, tok *signedrequest.Token) ([]*keyring.Key, *envelope.Rejection) {
	if g.ring.Keys().Len() == 0 {
		return nil, envelope.Reject(envelope.ReasonNoKeys, "no signing keys are loaded yet; try again shortly")
	}
	tenantKids, rej := g.tenantKids(r)
	if rej != nil {
		return nil, rej
	}
	return g.policy.AppendCandidates(dst, r.Context(), g.ring, tok, tenantKids)
}

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
// the contract's, in signedrequest.
func (g *Gateway) authenticate(r *http.Request, path string, query url.Values) (*signedrequest.Token, *keyring.Key, *envelope.Rejection) {
	values := r.Header.Values(g.SignatureHeader)
	switch {
	case len(values) == 0:
		return nil, nil, envelope.Reject(envelope.ReasonTokenMissing, "the %s header is missing", g.SignatureHeader)
	case len(values) > 1:
		return nil, nil, envelope.Reject(envelope.ReasonTokenMalformed, "the %s header is repeated", g.SignatureHeader)
	case values[0] == "":
		return nil, nil, envelope.Reject(envelope.ReasonTokenMissing, "the %s header is empty", g.SignatureHeader)
	}
	tok, rej := signedrequest.Parse(values[0])
	if rej != nil {
		return nil, nil, rej
	}
	if rej := g.policy.CheckAlgorithm(tok); rej != nil {
		return tok, nil, rej
	}
	if g.ring.Keys().Len() == 0 {
		return tok, nil, envelope.Reject(envelope.ReasonNoKeys, "no signing keys are loaded yet; try again shortly")
	}
	tenantKids, rej := g.tenantKids(r)
	if rej != nil {
		return tok, nil, rej
	}
	candidates, rej := g.policy.Candidates(r.Context(), g.ring, tok, tenantKids)
	if rej != nil {
		return tok, nil, rej
	}
	if rej := g.policy.CheckClaims(tok.Claims()); rej != nil {
		return tok, nil, rej
	}
	if rej := signedrequest.CheckBinding(tok.Claims(), r.Method, path, query); rej != nil {
		return tok, nil, rej
	}
	key, rej := g.policy.Verify(tok, candidates)
	return tok, key, rej
}

package caddymodule

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"math"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/keyring"
)

// authenticate runs every token check that needs no key (shape, header,
// claims, binding to method, path and query) before the one that does, so a
// forged or misdirected token never costs a signature verification. Each
// failure goes through settle: under report_only the checks that can still
// run do, and the key is nil when none verified the token.
func (g *Gateway) authenticate(r *http.Request, path string, query url.Values, settle settleFunc) (*token, *keyring.Key, *envelope.Rejection) {
	values := r.Header.Values(g.SignatureHeader)
	switch {
	case len(values) == 0:
		return nil, nil, settle(nil, envelope.Reject(envelope.ReasonTokenMissing, "the %s header is missing", g.SignatureHeader))
	case len(values) > 1:
		return nil, nil, settle(nil, envelope.Reject(envelope.ReasonTokenMalformed, "the %s header is repeated", g.SignatureHeader))
	case values[0] == "":
		return nil, nil, settle(nil, envelope.Reject(envelope.ReasonTokenMissing, "the %s header is empty", g.SignatureHeader))
	}
	tok, rej := parseToken(values[0])
	if rej != nil {
		return nil, nil, settle(nil, rej)
	}
	if rej := settle(tok, g.checkAlgorithm(tok)); rej != nil {
		return tok, nil, rej
	}
	var candidates []*keyring.Key
	if g.ring.Keys().Len() == 0 {
		rej = envelope.Reject(envelope.ReasonNoKeys, "no signing keys are loaded yet; try again shortly")
	} else {
		candidates, rej = g.candidateKeys(r, tok)
	}
	if rej := settle(tok, rej); rej != nil {
		return tok, nil, rej
	}
	if rej := settle(tok, g.checkClaims(&tok.claims)); rej != nil {
		return tok, nil, rej
	}
	if rej := settle(tok, checkBinding(&tok.claims, r.Method, path, query)); rej != nil {
		return tok, nil, rej
	}
	if candidates == nil {
		return tok, nil, nil
	}
	key, rej := g.verifySignature(tok, candidates)
	return tok, key, settle(tok, rej)
}

// checkAlgorithm refuses an alg outside the configured algorithms.
func (g *Gateway) checkAlgorithm(tok *token) *envelope.Rejection {
	if !slices.Contains(g.Algorithms, tok.alg) {
		return envelope.Reject(envelope.ReasonAlgNotAllowed, "alg %q is not accepted; use one of %v", envelope.Clip(tok.alg), g.Algorithms)
	}
	return nil
}

// candidateKeys picks the keys that may verify the token: the one its kid
// names, or for a token without kid those that serve its alg, at most
// max_key_attempts of them, the most recently successful first. With
// api_keys, only the keys registered for the request's X-Api-Key qualify.
func (g *Gateway) candidateKeys(r *http.Request, tok *token) ([]*keyring.Key, *envelope.Rejection) {
	tenantKids, rej := g.tenantKids(r)
	if rej != nil {
		return nil, rej
	}
	if tok.kid != "" {
		key, ok := g.ring.Lookup(r.Context(), tok.kid)
		if !ok {
			return nil, envelope.Reject(envelope.ReasonKidUnknown, "kid %q is not a known signing key", envelope.Clip(tok.kid))
		}
		if tenantKids != nil && !slices.Contains(tenantKids, tok.kid) {
			return nil, envelope.Reject(envelope.ReasonAPIKeyMismatch, "key %q is not registered for this X-Api-Key", tok.kid)
		}
		if key.Alg() != tok.alg {
			return nil, envelope.Reject(envelope.ReasonAlgNotAllowed, "alg %s does not match key %q, which is for %s", tok.alg, tok.kid, key.Alg())
		}
		return []*keyring.Key{key}, nil
	}
	fitting := g.ring.Keys().ForAlg(tok.alg)
	if tenantKids != nil {
		fitting = slices.DeleteFunc(slices.Clone(fitting), func(k *keyring.Key) bool { return !slices.Contains(tenantKids, k.Kid()) })
	}
	switch {
	case len(fitting) == 0:
		return nil, envelope.Reject(envelope.ReasonNoKeyVerified, "no trusted key serves alg %s", envelope.Clip(tok.alg))
	case len(fitting) > g.MaxKeyAttempts:
		return nil, envelope.Reject(envelope.ReasonNoKeyVerified, "the token has no kid and %d keys serve alg %s, more than the %d that are tried; put the key's kid in the token header", len(fitting), tok.alg, g.MaxKeyAttempts)
	}
	ordered := slices.Clone(fitting)
	slices.SortStableFunc(ordered, func(a, b *keyring.Key) int {
		return cmp.Compare(b.LastVerified(), a.LastVerified())
	})
	return ordered, nil
}

// checkClaims checks audience and time.
func (g *Gateway) checkClaims(c *claims) *envelope.Rejection {
	if rej := g.checkAudience(c); rej != nil {
		return rej
	}
	return g.checkTimes(c)
}

func (g *Gateway) checkAudience(c *claims) *envelope.Rejection {
	if !slices.Contains(c.audience, g.Audience) {
		return envelope.Reject(envelope.ReasonAudience, "aud must contain %s", g.Audience)
	}
	return nil
}

// checkTimes compares dates in fractional seconds; the skew is granted on
// each side.
func (g *Gateway) checkTimes(c *claims) *envelope.Rejection {
	now := float64(g.now().UnixNano()) / 1e9
	skew := time.Duration(g.ClockSkew).Seconds()
	lifetime := time.Duration(g.MaxTokenLifetime).Seconds()
	switch {
	case c.expiresAt <= c.issuedAt:
		return envelope.Reject(envelope.ReasonTokenLifetime, "exp must be after iat")
	case c.expiresAt-c.issuedAt > lifetime:
		return envelope.Reject(envelope.ReasonTokenLifetime, "the token lives %s (exp - iat), more than the %s allowed", seconds(c.expiresAt-c.issuedAt), time.Duration(g.MaxTokenLifetime))
	case now-c.expiresAt > skew:
		return envelope.Reject(envelope.ReasonTokenExpired, "token expired %s ago", seconds(now-c.expiresAt))
	case c.issuedAt-now > skew:
		return envelope.Reject(envelope.ReasonTokenNotYetValid, "iat is %s in the future, beyond the allowed clock skew of %s", seconds(c.issuedAt-now), time.Duration(g.ClockSkew))
	case c.hasNotBefore && c.notBefore-now > skew:
		return envelope.Reject(envelope.ReasonTokenNotYetValid, "nbf is %s in the future, beyond the allowed clock skew of %s", seconds(c.notBefore-now), time.Duration(g.ClockSkew))
	}
	return nil
}

// seconds renders a span of seconds for a Detail, to the second.
func seconds(s float64) time.Duration {
	if s > math.MaxInt64/1e9 {
		return time.Duration(math.MaxInt64).Round(time.Second)
	}
	return time.Duration(s * 1e9).Round(time.Second)
}

// checkBinding ties the token to this request's method, path and query, each
// compared exactly as the client sent it.
func checkBinding(c *claims, method, path string, query url.Values) *envelope.Rejection {
	if rej := checkMethodClaim(c, method); rej != nil {
		return rej
	}
	if rej := checkPathClaim(c, path); rej != nil {
		return rej
	}
	return checkQueryBinding(c, query)
}

func checkMethodClaim(c *claims, method string) *envelope.Rejection {
	switch {
	case !c.hasMethod:
		return envelope.Reject(envelope.ReasonClaimMissing, "the token has no method claim")
	case c.method != method:
		return envelope.Reject(envelope.ReasonMethodMismatch, "the token's method claim does not match the request method %s", envelope.Clip(method))
	}
	return nil
}

func checkPathClaim(c *claims, path string) *envelope.Rejection {
	switch {
	case !c.hasPath:
		return envelope.Reject(envelope.ReasonClaimMissing, "the token has no path claim")
	case c.path != path:
		return envelope.Reject(envelope.ReasonPathMismatch, "the token's path claim does not match the request path %s", envelope.Clip(path))
	}
	return nil
}

func checkQueryBinding(c *claims, query url.Values) *envelope.Rejection {
	if len(query) == 0 {
		if len(c.queryParams) > 0 {
			return envelope.Reject(envelope.ReasonQueryMismatch, "the token has queryParams but the request has no query")
		}
		return nil
	}
	if !c.hasQuery {
		return envelope.Reject(envelope.ReasonQueryMismatch, "the request has a query but the token has no queryParams claim")
	}
	if len(c.queryParams) != len(query) {
		return envelope.Reject(envelope.ReasonQueryMismatch, "queryParams names %d parameters but the request has %d", len(c.queryParams), len(query))
	}
	for name, got := range query {
		want, ok := c.queryParams[name]
		if !ok {
			return envelope.Reject(envelope.ReasonQueryMismatch, "query parameter %q is not in queryParams", envelope.Clip(name))
		}
		if !want.every && len(got) > 1 {
			return envelope.Reject(envelope.ReasonQueryMismatch, "query parameter %q is repeated in the request; sign it in queryParams as an array of all its values in order", envelope.Clip(name))
		}
		if !slices.Equal(want.values, got) {
			return envelope.Reject(envelope.ReasonQueryMismatch, "query parameter %q does not match queryParams", envelope.Clip(name))
		}
	}
	return nil
}

// verifySignature tries each candidate key; the first that verifies wins.
func (g *Gateway) verifySignature(tok *token, candidates []*keyring.Key) (*keyring.Key, *envelope.Rejection) {
	for _, key := range candidates {
		start := time.Now()
		err := key.Verify(tok.signingInput, tok.signature)
		g.metrics.observeVerification(time.Since(start))
		if err == nil {
			return key, nil
		}
	}
	if tok.kid != "" {
		return nil, envelope.Reject(envelope.ReasonSignatureInvalid, "the signature does not verify with key %q", tok.kid)
	}
	return nil, envelope.Reject(envelope.ReasonNoKeyVerified, "the token has no kid and none of the %d keys for %s verifies it", len(candidates), tok.alg)
}

// checkBodyHash compares the bodyHash claim with the SHA-256 of the raw
// received bytes in constant time. An empty body may go without the claim.
func checkBodyHash(c *claims, body []byte) *envelope.Rejection {
	if !c.hasBodyHash {
		if len(body) == 0 {
			return nil
		}
		return envelope.Reject(envelope.ReasonClaimMissing, "the token has no bodyHash claim but the request has a body")
	}
	sum := sha256.Sum256(body)
	var want [sha256.Size * 2]byte
	hex.Encode(want[:], sum[:])
	if subtle.ConstantTimeCompare(want[:], []byte(c.bodyHash)) != 1 {
		return envelope.Reject(envelope.ReasonBodyHashMismatch, "bodyHash does not match the request body (it must be the lowercase hex SHA-256 of the exact bytes sent)")
	}
	return nil
}

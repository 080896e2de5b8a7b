package signedrequest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/url"
	"slices"

	"github.com/checkoutgw/checkoutgw/envelope"
)

// ParseQuery parses the query strictly: a malformed escape or a `;`
// separator is refused rather than guessed at. The binding compares
// queryParams with values parsed exactly this way. No query is nil, which
// reads as empty.
func ParseQuery(rawQuery string) (url.Values, *envelope.Rejection) {
	if rawQuery == "" {
		return nil, nil
	}
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, envelope.Reject(envelope.ReasonQueryMalformed, "the query string is not well formed")
	}
	return values, nil
}

// CheckBinding ties the token to this request's method, path and query, each
// compared exactly as the client sent it.
func CheckBinding(c *Claims, method, path string, query url.Values) *envelope.Rejection {
	if rej := checkMethodClaim(c, method); rej != nil {
		return rej
	}
	if rej := checkPathClaim(c, path); rej != nil {
		return rej
	}
	return checkQueryBinding(c, query)
}

func checkMethodClaim(c *Claims, method string) *envelope.Rejection {
	switch {
	case !c.hasMethod:
		return envelope.Reject(envelope.ReasonClaimMissing, "the token has no method claim")
	case c.method != method:
		return envelope.Reject(envelope.ReasonMethodMismatch, "the token's method claim does not match the request method %s", envelope.Clip(method))
	}
	return nil
}

func checkPathClaim(c *Claims, path string) *envelope.Rejection {
	switch {
	case !c.hasPath:
		return envelope.Reject(envelope.ReasonClaimMissing, "the token has no path claim")
	case c.path != path:
		return envelope.Reject(envelope.ReasonPathMismatch, "the token's path claim does not match the request path %s", envelope.Clip(path))
	}
	return nil
}

func checkQueryBinding(c *Claims, query url.Values) *envelope.Rejection {
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

// CheckBodyHash compares the bodyHash claim with the SHA-256 of the raw
// received bytes in constant time. An empty body may go without the claim.
func CheckBodyHash(c *Claims, body []byte) *envelope.Rejection {
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

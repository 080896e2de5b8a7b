package signedrequest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
)

// Finding is one check that Explain ran on a token.
type Finding struct {
	Check  string
	OK     bool
	Detail string
}

// Explain says, without verifying the signature, which of the gateway's own
// checks a token would fail for the given request under the default policy,
// and why. Each check is the gateway's, so the words match the envelope's
// Detail. An empty method, target or a nil body skips the checks that need it.
func Explain(tokenText, method string, target *url.URL, body []byte, now time.Time) []Finding {
	p := DefaultPolicy(now)
	tok, rej := Parse(strings.TrimSpace(tokenText))
	if rej != nil {
		return []Finding{{Check: "token", Detail: rej.Detail}}
	}
	out := []Finding{
		result("token shape and header", nil, fmt.Sprintf("alg %s, kid %q", tok.alg, tok.kid)),
		result("alg", p.CheckAlgorithm(tok), ""),
		result("signature encoding", signatureEncoding(tok), fmt.Sprintf("%d bytes (not verified: explain has no key)", len(tok.signature))),
		result("aud", p.CheckAudience(&tok.claims), fmt.Sprintf("%v", tok.claims.audience)),
		result("iat, exp, nbf", p.CheckTimes(&tok.claims), describeTimes(&tok.claims, now)),
	}
	if method != "" {
		out = append(out, withClaim(result("method", checkMethodClaim(&tok.claims, method), method), tok.claims.method))
	}
	if target != nil {
		out = append(out, withClaim(result("path", checkPathClaim(&tok.claims, target.EscapedPath()), target.EscapedPath()), tok.claims.path))
		query, rej := ParseQuery(target.RawQuery)
		if rej == nil {
			rej = checkQueryBinding(&tok.claims, query)
		}
		out = append(out, result("queryParams", rej, ""))
	}
	if body != nil {
		out = append(out, bodyHashFinding(&tok.claims, body))
	}
	return out
}

func result(check string, rej *envelope.Rejection, okDetail string) Finding {
	if rej != nil {
		return Finding{Check: check, Detail: rej.Detail}
	}
	return Finding{Check: check, OK: true, Detail: okDetail}
}

// signatureEncoding spots the most common ECDSA mistake: a DER signature
// from a generic crypto API where JWS wants raw R||S.
func signatureEncoding(tok *Token) *envelope.Rejection {
	want := map[string]int{"ES256": 64, "ES384": 96, "ES512": 132}[tok.alg]
	if want == 0 || len(tok.signature) == want {
		return nil
	}
	if tok.signature[0] == 0x30 {
		return envelope.Reject(envelope.ReasonSignatureInvalid, "the signature is %d bytes and looks DER-encoded; %s needs the raw %d-byte R||S form", len(tok.signature), tok.alg, want)
	}
	return envelope.Reject(envelope.ReasonSignatureInvalid, "the signature is %d bytes; %s needs %d", len(tok.signature), tok.alg, want)
}

func describeTimes(c *Claims, now time.Time) string {
	at := func(s float64) string {
		d := seconds(s - float64(now.UnixNano())/1e9)
		if d < 0 {
			return fmt.Sprintf("%s ago", -d)
		}
		return fmt.Sprintf("in %s", d)
	}
	return fmt.Sprintf("issued %s, expires %s, lifetime %s", at(c.issuedAt), at(c.expiresAt), seconds(c.expiresAt-c.issuedAt))
}

// withClaim adds the claim's own value to a failed finding, so the
// integrator sees both sides.
func withClaim(f Finding, claim string) Finding {
	if !f.OK {
		f.Detail += fmt.Sprintf("; the claim is %q", claim)
	}
	return f
}

// bodyHashFinding shows both hashes, since a mismatch usually means the body
// was re-serialised between signing and sending.
func bodyHashFinding(c *Claims, body []byte) Finding {
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])
	f := result("bodyHash", CheckBodyHash(c, body), "sha256 "+actual)
	if !f.OK && c.hasBodyHash {
		f.Detail += fmt.Sprintf("; the claim is %s, the body's bytes hash to %s (was the body re-serialised after signing?)", c.bodyHash, actual)
	}
	return f
}

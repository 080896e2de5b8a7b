package signedrequest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/keyring"
)

// Finding is one check that Explain ran on a token.
type Finding struct {
	Check  string
	OK     bool
	Detail string
}

// Request is what Explain knows of the request a token came with. An empty
// Method, a nil Target or a nil Body skips the checks that need it.
type Request struct {
	Method string
	Target *url.URL
	Body   []byte
}

// CandidatesFunc picks the keys that may verify a token, as the gateway
// does for the request at hand, or says why none may.
type CandidatesFunc func(ctx context.Context, tok *Token) ([]*keyring.Key, *envelope.Rejection)

// Explain says, without verifying the signature, which of the gateway's own
// checks a token would fail for the given request under the default policy,
// and why. Each check is the gateway's, so the words match the envelope's
// Detail. An empty method, target or a nil body skips the checks that need it.
func Explain(tokenText, method string, target *url.URL, body []byte, now time.Time) []Finding {
	p := DefaultPolicy(now)
	return p.Explain(context.Background(), tokenText, Request{Method: method, Target: target, Body: body}, nil)
}

// Explain runs the policy's checks on a token for the request and, given
// candidates, verifies the signature with the keys the gateway would try,
// through the same Candidates and Verify. Without candidates the signature
// is not verified, which the findings say.
func (p *Policy) Explain(ctx context.Context, tokenText string, req Request, candidates CandidatesFunc) []Finding {
	tok, rej := Parse(strings.TrimSpace(tokenText))
	if rej != nil {
		return []Finding{{Check: "token", Detail: rej.Detail}}
	}
	out := []Finding{
		result("token shape and header", nil, fmt.Sprintf("alg %s, kid %q", tok.alg, tok.kid)),
		result("alg", p.CheckAlgorithm(tok), ""),
	}
	var keys []*keyring.Key
	encodingNote := " (not verified: explain has no key)"
	if candidates != nil {
		var rej *envelope.Rejection
		keys, rej = candidates(ctx, tok)
		out = append(out, result("key", rej, describeKeys(keys)))
		encodingNote = ""
	}
	out = append(out,
		result("signature encoding", signatureEncoding(tok), fmt.Sprintf("%d bytes%s", len(tok.signature), encodingNote)),
		result("aud", p.CheckAudience(&tok.claims), fmt.Sprintf("%v", tok.claims.audience)),
		result("iat, exp, nbf", p.CheckTimes(&tok.claims), describeTimes(&tok.claims, p.Now())),
	)
	if req.Method != "" {
		out = append(out, withClaim(result("method", checkMethodClaim(&tok.claims, req.Method), req.Method), tok.claims.method))
	}
	if req.Target != nil {
		path := req.Target.EscapedPath()
		out = append(out, withClaim(result("path", checkPathClaim(&tok.claims, path), path), tok.claims.path))
		query, rej := ParseQuery(req.Target.RawQuery)
		if rej == nil {
			rej = checkQueryBinding(&tok.claims, query)
		}
		out = append(out, result("queryParams", rej, ""))
	}
	if req.Body != nil {
		out = append(out, bodyHashFinding(&tok.claims, req.Body))
	}
	if len(keys) > 0 {
		key, rej := p.Verify(tok, keys)
		verified := ""
		if key != nil {
			verified = fmt.Sprintf("verified with key %q (%s)", key.Kid(), key.Alg())
		}
		out = append(out, result("signature", rej, verified))
	}
	return out
}

// describeKeys names the keys that will be tried.
func describeKeys(keys []*keyring.Key) string {
	kids := make([]string, len(keys))
	for i, k := range keys {
		kids[i] = fmt.Sprintf("%q", k.Kid())
	}
	return fmt.Sprintf("%s %s", plural(len(keys), "tries key", "tries keys"), strings.Join(kids, ", "))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
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

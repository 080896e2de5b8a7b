package caddymodule

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
)

// finding is one check that `caddy checkout explain` ran on a token.
type finding struct {
	check  string
	ok     bool
	detail string
}

// explainRequest says, without verifying the signature, which of the
// gateway's own checks a token would fail for the given request, and why.
// Each check is the gateway's, so the words match the envelope's Detail.
// An empty method, target or a nil body skips the checks that need it.
func explainRequest(tokenText, method string, target *url.URL, body []byte, now time.Time) []finding {
	g := &Gateway{now: func() time.Time { return now }}
	g.applyDefaults()
	tok, rej := parseToken(strings.TrimSpace(tokenText))
	if rej != nil {
		return []finding{{check: "token", detail: rej.Detail}}
	}
	out := []finding{
		result("token shape and header", nil, fmt.Sprintf("alg %s, kid %q", tok.alg, tok.kid)),
		result("alg", g.checkAlgorithm(tok), ""),
		result("signature encoding", signatureEncoding(tok), fmt.Sprintf("%d bytes (not verified: explain has no key)", len(tok.signature))),
		result("aud", g.checkAudience(&tok.claims), fmt.Sprintf("%v", tok.claims.audience)),
		result("iat, exp, nbf", g.checkTimes(&tok.claims), describeTimes(&tok.claims, now)),
	}
	if method != "" {
		out = append(out, withClaim(result("method", checkMethodClaim(&tok.claims, method), method), tok.claims.method))
	}
	if target != nil {
		out = append(out, withClaim(result("path", checkPathClaim(&tok.claims, target.EscapedPath()), target.EscapedPath()), tok.claims.path))
		query, rej := parseQuery(target.RawQuery)
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

func result(check string, rej *envelope.Rejection, okDetail string) finding {
	if rej != nil {
		return finding{check: check, detail: rej.Detail}
	}
	return finding{check: check, ok: true, detail: okDetail}
}

// signatureEncoding spots the most common ECDSA mistake: a DER signature
// from a generic crypto API where JWS wants raw R||S.
func signatureEncoding(tok *token) *envelope.Rejection {
	want := map[string]int{"ES256": 64, "ES384": 96, "ES512": 132}[tok.alg]
	if want == 0 || len(tok.signature) == want {
		return nil
	}
	if tok.signature[0] == 0x30 {
		return envelope.Reject(envelope.ReasonSignatureInvalid, "the signature is %d bytes and looks DER-encoded; %s needs the raw %d-byte R||S form", len(tok.signature), tok.alg, want)
	}
	return envelope.Reject(envelope.ReasonSignatureInvalid, "the signature is %d bytes; %s needs %d", len(tok.signature), tok.alg, want)
}

func describeTimes(c *claims, now time.Time) string {
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
func withClaim(f finding, claim string) finding {
	if !f.ok {
		f.detail += fmt.Sprintf("; the claim is %q", claim)
	}
	return f
}

// bodyHashFinding shows both hashes, since a mismatch usually means the body
// was re-serialised between signing and sending.
func bodyHashFinding(c *claims, body []byte) finding {
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])
	f := result("bodyHash", checkBodyHash(c, body), "sha256 "+actual)
	if !f.ok && c.hasBodyHash {
		f.detail += fmt.Sprintf("; the claim is %s, the body's bytes hash to %s (was the body re-serialised after signing?)", c.bodyHash, actual)
	}
	return f
}

// writeFindings prints findings one a line, failures marked.
func writeFindings(w io.Writer, findings []finding) (failed int) {
	for _, f := range findings {
		mark := "ok  "
		if !f.ok {
			mark = "FAIL"
			failed++
		}
		fmt.Fprintf(w, "%s  %-24s %s\n", mark, f.check, f.detail)
	}
	return failed
}

// decodePart shows a token part for the reader of explain's output.
func decodePart(part string) string {
	data, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return "(not base64url)"
	}
	return string(data)
}

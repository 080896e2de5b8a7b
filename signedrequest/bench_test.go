package signedrequest

import (
	"strings"
	"testing"
)

// BenchmarkParse is the cost of taking a token like a client's apart and
// typing its header and claims, before any key is looked at, and giving
// it back as the gateway does once the request is done.
func BenchmarkParse(b *testing.B) {
	claims := strings.Replace(requestClaimsJSON(b), `}`, `,"bodyHash":"`+strings.Repeat("A", 43)+`"}`, 1)
	token := newTestSigner(b, "ES256").signRaw(b, `{"alg":"ES256","kid":"demo-es256","typ":"JWT"}`, claims)
	b.ReportAllocs()
	for b.Loop() {
		tok, rej := Parse(token)
		if rej != nil {
			b.Fatal(rej.Detail)
		}
		tok.Release()
	}
}

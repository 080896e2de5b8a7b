package signedrequest

import (
	"strings"
	"testing"
)

// BenchmarkParse is the cost of taking a token like a client's apart and
// typing its header and claims, before any key is looked at.
func BenchmarkParse(b *testing.B) {
	claims := strings.Replace(requestClaimsJSON(b), `}`, `,"bodyHash":"`+strings.Repeat("A", 43)+`"}`, 1)
	token := newTestSigner(b, "ES256").signRaw(b, `{"alg":"ES256","kid":"demo-es256","typ":"JWT"}`, claims)
	b.ReportAllocs()
	for b.Loop() {
		if _, rej := Parse(token); rej != nil {
			b.Fatal(rej.Detail)
		}
	}
}

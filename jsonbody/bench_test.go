package jsonbody

import (
	"testing"
	"time"

	"github.com/checkoutgw/checkoutgw/internal/bodycases"
)

// BenchmarkCheckValid is the body contract's cost on the sample body, the
// accept path: strict parse and the fast checker, no value tree.
func BenchmarkCheckValid(b *testing.B) {
	schema, err := Load(builtinName, time.Now)
	must(b, err)
	body := []byte(bodycases.Valid)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if rej := schema.Check(body); rej != nil {
			b.Fatal(rej.Detail)
		}
	}
}

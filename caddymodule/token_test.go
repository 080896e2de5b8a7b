package caddymodule

import (
	"strings"
	"testing"

	"github.com/checkoutgw/checkoutgw/envelope"
)

// FuzzParseToken: the token parser never panics, and whatever it accepts is
// a canonical compact JWS with a typed header.
func FuzzParseToken(f *testing.F) {
	k := newTestKey(f, "k", "ES256")
	good := k.sign(f, validClaims(validBody), false)
	for _, seed := range []string{good, good + ".", "a.b.c", "e30.e30.e30", "eyJhbGciOiJub25lIn0.e30.", strings.Replace(good, ".", "=.", 1)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		tok, rej := parseToken(value)
		if rej != nil {
			if rej.Detail == "" || envelope.VerdictOf(rej.Reason).Status == 0 {
				t.Fatalf("a refusal without detail or verdict: %+v", rej)
			}
			return
		}
		if strings.Count(value, ".") != 2 || tok.alg == "" || len(tok.signature) == 0 {
			t.Fatalf("accepted a non-canonical token %q", value)
		}
		for _, bad := range []string{"=", "+", "/"} {
			if strings.Contains(value, bad) {
				t.Fatalf("accepted %q in a token", bad)
			}
		}
	})
}

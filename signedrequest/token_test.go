package signedrequest

import (
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/checkoutgw/checkoutgw/envelope"
)

// FuzzParseToken: the token parser never panics, and whatever it accepts is
// a canonical compact JWS with a typed header.
func FuzzParseToken(f *testing.F) {
	good := newTestSigner(f, "ES256").signRaw(f, `{"alg":"ES256","kid":"k","typ":"JWT"}`, requestClaimsJSON(f))
	for _, seed := range []string{good, good + ".", "a.b.c", "e30.e30.e30", "eyJhbGciOiJub25lIn0.e30.", strings.Replace(good, ".", "=.", 1)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		tok, rej := Parse(value)
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

func TestParseTokenRefusesWithoutEchoingIt(t *testing.T) {
	secretish := "eyJzZWNyZXQiOiJkbyBub3QgbG9nIG1lIn0"
	for _, value := range []string{secretish, secretish + "." + secretish, secretish + ".." + secretish} {
		_, rej := Parse(value)
		if rej == nil {
			t.Fatalf("accepted %q", value)
		}
		if strings.Contains(rej.Detail, secretish) {
			t.Errorf("Detail echoes the token: %s", rej.Detail)
		}
	}
}

func TestLongClientNamesAreClipped(t *testing.T) {
	long := strings.Repeat("k", 5000)
	tok := newTestSigner(t, "ES384").signRaw(t, `{"alg":"ES384","kid":"`+long+`","`+long+`":1}`, `{}`)
	_, rej := Parse(tok)
	if rej == nil || len(rej.Detail) > 200 {
		t.Fatalf("a 5,000-byte header member name made a %d-byte Detail", len(rej.Detail))
	}
}

// TestParseAllocations: a new token of the usual shape costs four
// allocations (the token, its document's nodes, one buffer for its bytes,
// one string for its header and payload), whatever its claims hold, and
// its parts do not overlap. A released token parsed again keeps all but
// the string (BenchmarkParse).
func TestParseAllocations(t *testing.T) {
	value := newTestSigner(t, "ES256").signRaw(t, `{"alg":"ES256","kid":"key-2024-01","typ":"JWT"}`, requestClaimsJSON(t))
	// Two collections empty the pool of tokens earlier tests released, so
	// that every Parse here makes a new one.
	runtime.GC()
	runtime.GC()
	if allocs := testing.AllocsPerRun(100, func() { _, _ = Parse(value) }); allocs != 4 {
		t.Errorf("Parse costs %v allocations, want 4", allocs)
	}
	tok, rej := Parse(value)
	if rej != nil {
		t.Fatal(rej)
	}
	if tok.alg != "ES256" || tok.kid != "key-2024-01" || tok.claims.method != "POST" || !slices.Equal(tok.claims.audience, []string{DefaultAudience}) {
		t.Fatalf("parsed alg %q, kid %q, method %q, aud %q", tok.alg, tok.kid, tok.claims.method, tok.claims.audience)
	}
	if string(tok.signingInput) != value[:strings.LastIndexByte(value, '.')] {
		t.Fatal("the signing input is not the token's first two parts")
	}
	for _, part := range [][]byte{tok.signingInput, tok.header, tok.payload} {
		if cap(part) != len(part) {
			t.Fatal("a part of the token can grow into the next")
		}
	}
}

// TestReleasedTokenLeavesStringsAlone parses a token, keeps its strings,
// releases it and parses another into the same pooled token: the strings
// kept from the first are still its own, and the second parses whole.
func TestReleasedTokenLeavesStringsAlone(t *testing.T) {
	signer := newTestSigner(t, "ES256")
	first, rej := Parse(signer.signRaw(t, `{"alg":"ES256","kid":"first-key"}`, `{"iat":1,"exp":2,"path":"/first","aud":"one"}`))
	if rej != nil {
		t.Fatal(rej.Detail)
	}
	kid, path, audience := first.Kid(), first.Claims().path, first.Claims().audience[0]
	first.Release()
	for range 20 { // the pool may hand the released token to any of these
		second, rej := Parse(signer.signRaw(t, `{"alg":"ES256","kid":"other-kid"}`, `{"iat":3,"exp":4,"path":"/other-","aud":"two"}`))
		if rej != nil {
			t.Fatal(rej.Detail)
		}
		if second.Kid() != "other-kid" || second.Claims().path != "/other-" || string(second.Header()) != `{"alg":"ES256","kid":"other-kid"}` {
			t.Fatalf("second token parsed as kid %q, path %q, header %s", second.Kid(), second.Claims().path, second.Header())
		}
		second.Release()
	}
	if kid != "first-key" || path != "/first" || audience != "one" {
		t.Fatalf("the first token's strings changed after its release: kid %q, path %q, aud %q", kid, path, audience)
	}
}

// TestReleaseTwiceIsOnce releases one parse twice: the pool must not hand
// the same token to two later parses.
func TestReleaseTwiceIsOnce(t *testing.T) {
	signer := newTestSigner(t, "ES256")
	value := signer.signRaw(t, `{"alg":"ES256","kid":"k"}`, `{"iat":1,"exp":2}`)
	tok, rej := Parse(value)
	if rej != nil {
		t.Fatal(rej.Detail)
	}
	tok.Release()
	tok.Release()
	// Without a pool that drops items (as under -race), both parses could
	// get tok back if it went in twice.
	first, _ := Parse(value)
	second, _ := Parse(value)
	if first == second {
		t.Fatal("two parses share one token after a double release")
	}
}

// TestWholeSecondsIsParseFloat: the shortcut for plain digit dates gives
// ParseFloat's own float64, and leaves every other form to it.
func TestWholeSecondsIsParseFloat(t *testing.T) {
	cases := []struct {
		text  string
		whole bool
	}{
		{"0", true},
		{"1796580000", true},
		{"000000000000012", true},
		{"999999999999999", true},
		{"9007199254740993", false}, // 16 digits: past 2^53, ParseFloat rounds
		{"", false},
		{"-1", false},
		{"1.5", false},
		{"1e9", false},
		{"17965800x0", false},
	}
	for _, tc := range cases {
		got, whole := wholeSeconds(tc.text)
		if whole != tc.whole {
			t.Fatalf("%q: whole %v, want %v", tc.text, whole, tc.whole)
		}
		if want, err := strconv.ParseFloat(tc.text, 64); whole && (err != nil || got != want) {
			t.Fatalf("%q: %v, ParseFloat gives %v (%v)", tc.text, got, want, err)
		}
	}
}

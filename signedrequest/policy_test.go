package signedrequest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/keyring"
)

// TestCheckClaimsBoundaries pins the exact edges of the time rules with an
// injected clock: at the limit is accepted, one second beyond is not.
func TestCheckClaimsBoundaries(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p := &Policy{Audience: DefaultAudience, ClockSkew: 60 * time.Second, MaxLifetime: 15 * time.Minute, Now: func() time.Time { return now }}
	n := float64(now.Unix())
	cases := []struct {
		name     string
		iat, exp float64
		nbf      float64
		hasNbf   bool
		reason   envelope.Reason // empty: accepted
	}{
		{name: "fresh", iat: n, exp: n + 300},
		{name: "lifetime exactly 15m", iat: n - 100, exp: n + 800},
		{name: "lifetime 15m1s", iat: n - 100, exp: n + 801, reason: envelope.ReasonTokenLifetime},
		{name: "expired exactly the skew ago", iat: n - 300, exp: n - 60},
		{name: "expired a second past the skew", iat: n - 300, exp: n - 61, reason: envelope.ReasonTokenExpired},
		{name: "expired a fraction past the skew", iat: n - 300, exp: n - 60.001, reason: envelope.ReasonTokenExpired},
		{name: "iat exactly the skew ahead", iat: n + 60, exp: n + 300},
		{name: "iat a second past the skew", iat: n + 61, exp: n + 300, reason: envelope.ReasonTokenNotYetValid},
		{name: "nbf exactly the skew ahead", iat: n, exp: n + 300, nbf: n + 60, hasNbf: true},
		{name: "nbf a second past the skew", iat: n, exp: n + 300, nbf: n + 61, hasNbf: true, reason: envelope.ReasonTokenNotYetValid},
		{name: "exp equal to iat", iat: n, exp: n, reason: envelope.ReasonTokenLifetime},
		{name: "exp before iat", iat: n, exp: n - 1, reason: envelope.ReasonTokenLifetime},
		{name: "huge exp", iat: n, exp: 1e300, reason: envelope.ReasonTokenLifetime},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Claims{audience: []string{DefaultAudience}, issuedAt: tc.iat, expiresAt: tc.exp, notBefore: tc.nbf, hasNotBefore: tc.hasNbf}
			rej := p.CheckClaims(c)
			switch {
			case tc.reason == "" && rej != nil:
				t.Fatalf("refused: %v", rej)
			case tc.reason != "" && (rej == nil || rej.Reason != tc.reason):
				t.Fatalf("got %v, want %s", rej, tc.reason)
			}
		})
	}
}

func TestExpiredDetailSaysHowLongAgo(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p := &Policy{Audience: DefaultAudience, ClockSkew: time.Minute, MaxLifetime: 15 * time.Minute, Now: func() time.Time { return now }}
	rej := p.CheckClaims(&Claims{audience: []string{DefaultAudience}, issuedAt: 1_800_000_000 - 600, expiresAt: 1_800_000_000 - 192})
	if rej == nil || rej.Detail != "token expired 3m12s ago" {
		t.Fatalf("got %v", rej)
	}
}

// TestAppendCandidates: the keys are appended after what dst holds, the
// most recently successful first for a token without kid, in dst's own
// room when it has enough.
func TestAppendCandidates(t *testing.T) {
	signers := []*testSigner{newTestSigner(t, "ES256"), newTestSigner(t, "ES256"), newTestSigner(t, "ES256")}
	var public []jwk.Key
	for i, s := range signers {
		pub, err := jwk.Import(&s.priv.PublicKey)
		must(t, err)
		must(t, pub.Set(jwk.KeyIDKey, fmt.Sprintf("k%d", i)))
		must(t, pub.Set(jwk.AlgorithmKey, jwa.ES256()))
		public = append(public, pub)
	}
	ring := ringOf(t, public...)
	p := DefaultPolicy(time.Now())
	ctx := context.Background()

	// k1 verified last, k2 before it, k0 never.
	for _, i := range []int{2, 1} {
		key, _ := ring.Lookup(ctx, fmt.Sprintf("k%d", i))
		tok, rej := Parse(signers[i].signRaw(t, `{"alg":"ES256"}`, requestClaimsJSON(t)))
		if rej != nil {
			t.Fatal(rej)
		}
		if _, rej := p.Verify(tok, []*keyring.Key{key}); rej != nil {
			t.Fatal(rej)
		}
		time.Sleep(time.Millisecond)
	}

	withKid, rej := Parse(signers[0].signRaw(t, `{"alg":"ES256","kid":"k0"}`, requestClaimsJSON(t)))
	if rej != nil {
		t.Fatal(rej)
	}
	noKid, rej := Parse(signers[0].signRaw(t, `{"alg":"ES256"}`, requestClaimsJSON(t)))
	if rej != nil {
		t.Fatal(rej)
	}
	for _, tc := range []struct {
		name string
		tok  *Token
		want []string
	}{
		{"kid", withKid, []string{"held", "k0"}},
		{"no kid", noKid, []string{"held", "k1", "k2", "k0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			held, _ := ring.Lookup(ctx, "k2")
			var room [DefaultMaxKeyAttempts + 1]*keyring.Key
			got, rej := p.AppendCandidates(append(room[:0], held), ctx, ring, tc.tok, nil)
			if rej != nil {
				t.Fatal(rej)
			}
			kids := []string{"held"}
			for _, k := range got[1:] {
				kids = append(kids, k.Kid())
			}
			if got[0] != held || !slices.Equal(kids, tc.want) {
				t.Fatalf("candidates %v, want %v", kids, tc.want)
			}
			if &got[0] != &room[0] {
				t.Fatal("the candidates did not go into dst's room")
			}
		})
	}
}

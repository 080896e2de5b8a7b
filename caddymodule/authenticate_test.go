package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/checkoutgw/checkoutgw/envelope"
)

// TestCheckClaimsBoundaries pins the exact edges of the time rules with an
// injected clock: at the limit is accepted, one second beyond is not.
func TestCheckClaimsBoundaries(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	g := &Gateway{Audience: defaultAudience, ClockSkew: caddy.Duration(60 * time.Second), MaxTokenLifetime: caddy.Duration(15 * time.Minute), now: func() time.Time { return now }}
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
			c := &claims{audience: []string{defaultAudience}, issuedAt: tc.iat, expiresAt: tc.exp, notBefore: tc.nbf, hasNotBefore: tc.hasNbf}
			rej := g.checkClaims(c)
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
	g := &Gateway{Audience: defaultAudience, ClockSkew: caddy.Duration(time.Minute), MaxTokenLifetime: caddy.Duration(15 * time.Minute), now: func() time.Time { return now }}
	rej := g.checkClaims(&claims{audience: []string{defaultAudience}, issuedAt: 1_800_000_000 - 600, expiresAt: 1_800_000_000 - 192})
	if rej == nil || rej.Detail != "token expired 3m12s ago" {
		t.Fatalf("got %v", rej)
	}
}

func TestQueryBinding(t *testing.T) {
	cases := []struct {
		name   string
		query  string
		claim  map[string]queryClaim
		hasQ   bool
		accept bool
	}{
		{"no query, no claim", "", nil, false, true},
		{"no query, empty claim", "", map[string]queryClaim{}, true, true},
		{"no query, claim names one", "", map[string]queryClaim{"a": {values: []string{"1"}}}, true, false},
		{"query, no claim", "a=1", nil, false, false},
		{"string matches", "a=1", map[string]queryClaim{"a": {values: []string{"1"}}}, true, true},
		{"string for a repeated name, the last value", "a=1&a=2", map[string]queryClaim{"a": {values: []string{"2"}}}, true, false},
		{"string for a repeated name, the first value", "a=1&a=2", map[string]queryClaim{"a": {values: []string{"1"}}}, true, false},
		{"array of one for a single value", "a=1", map[string]queryClaim{"a": {values: []string{"1"}, every: true}}, true, true},
		{"array in order", "a=1&a=2", map[string]queryClaim{"a": {values: []string{"1", "2"}, every: true}}, true, true},
		{"array out of order", "a=1&a=2", map[string]queryClaim{"a": {values: []string{"2", "1"}, every: true}}, true, false},
		{"array missing a value", "a=1&a=2", map[string]queryClaim{"a": {values: []string{"1"}, every: true}}, true, false},
		{"extra name in claim", "a=1", map[string]queryClaim{"a": {values: []string{"1"}}, "b": {values: []string{"2"}}}, true, false},
		{"name missing from claim", "a=1&b=2", map[string]queryClaim{"a": {values: []string{"1"}}}, true, false},
		{"escaped value", "q=a%20b", map[string]queryClaim{"q": {values: []string{"a b"}}}, true, true},
		{"empty value", "a=", map[string]queryClaim{"a": {values: []string{""}}}, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			must(t, err)
			rej := checkQueryBinding(&claims{queryParams: tc.claim, hasQuery: tc.hasQ}, q)
			if (rej == nil) != tc.accept {
				t.Fatalf("accept = %v, want %v (%v)", rej == nil, tc.accept, rej)
			}
		})
	}
}

func TestCheckPath(t *testing.T) {
	for path, ok := range map[string]bool{
		"/checkout/manage":      true,
		"/v1/checkout/manage":   true,
		"/checkout/manage/":     true,
		"/":                     true,
		"":                      false,
		"checkout":              false,
		"/a%2Fb":                false,
		"/a//b":                 false,
		"/a/./b":                false,
		"/a/../b":               false,
		"/a/.":                  false,
		"/a\\b":                 false,
		"/a;b":                  false,
		"/a\x00b":               false,
		"/checkout/manage.json": true,
	} {
		if got := checkPath(path) == nil; got != ok {
			t.Errorf("checkPath(%q) accepted = %v, want %v", path, got, ok)
		}
	}
}

// TestHopByHopProtectsTheConfiguredSignatureHeader: whatever the signature
// header is called, Connection may not name it.
func TestHopByHopProtectsTheConfiguredSignatureHeader(t *testing.T) {
	tests := []struct {
		signatureHeader, connection string
		refused                     bool
	}{
		{"Api-Signature", "keep-alive, api-signature", true},
		{"X-Signature", "X-Signature", true},
		{"X-Signature", "Api-Signature", false},
		{"X-Signature", "content-length", true},
		{"X-Signature", "keep-alive", false},
	}
	for _, tc := range tests {
		g := &Gateway{SignatureHeader: tc.signatureHeader}
		r := httptest.NewRequest(http.MethodPost, testPath, nil)
		r.Header.Set("Connection", tc.connection)
		if got := g.checkHopByHop(r) != nil; got != tc.refused {
			t.Errorf("signature header %s, Connection %q: refused %v, want %v", tc.signatureHeader, tc.connection, got, tc.refused)
		}
	}
}

func TestParseTokenRefusesWithoutEchoingIt(t *testing.T) {
	secretish := "eyJzZWNyZXQiOiJkbyBub3QgbG9nIG1lIn0"
	for _, value := range []string{secretish, secretish + "." + secretish, secretish + ".." + secretish} {
		_, rej := parseToken(value)
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
	k := newTestKey(t, long, "ES384")
	tok := k.signRaw(t, `{"alg":"ES384","kid":"`+long+`","`+long+`":1}`, `{}`)
	_, rej := parseToken(tok)
	if rej == nil || len(rej.Detail) > 200 {
		t.Fatalf("a 5,000-byte header member name made a %d-byte Detail", len(rej.Detail))
	}
}

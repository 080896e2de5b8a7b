package caddymodule

import (
	"net/http"
	"slices"
	"testing"
)

func TestKeyIDHeaderKeyIsCanonical(t *testing.T) {
	if got := http.CanonicalHeaderKey(keyIDHeader); got != keyIDHeaderKey {
		t.Fatalf("keyIDHeaderKey is %q; net/http stores %s as %q", keyIDHeaderKey, keyIDHeader, got)
	}
}

func TestSetContentLength(t *testing.T) {
	for _, tc := range []struct {
		name string
		sent []string
		size int
		want []string
	}{
		{name: "none sent", size: 389, want: []string{"389"}},
		{name: "the same sent", sent: []string{"389"}, size: 389, want: []string{"389"}},
		{name: "leading zero", sent: []string{"0389"}, size: 389, want: []string{"389"}},
		{name: "another", sent: []string{"12"}, size: 389, want: []string{"389"}},
		{name: "repeated", sent: []string{"389", "389"}, size: 389, want: []string{"389"}},
		{name: "empty body", size: 0, want: []string{"0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.sent != nil {
				h["Content-Length"] = tc.sent
			}
			setContentLength(h, tc.size)
			if got := h.Values("Content-Length"); !slices.Equal(got, tc.want) {
				t.Fatalf("Content-Length %q, want %q", got, tc.want)
			}
		})
	}
}

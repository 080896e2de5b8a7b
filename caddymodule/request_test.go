package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

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

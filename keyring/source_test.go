package keyring

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRedirectToAnotherHostIsRefused(t *testing.T) {
	ks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://localhost.invalid/jwks", http.StatusFound)
	}))
	t.Cleanup(ks.Close)
	src := NewSource(ks.URL+"/redirect-away", time.Hour, time.Second)
	if _, _, err := src.download(t.Context()); err == nil || !strings.Contains(err.Error(), "another host") {
		t.Fatalf("got %v", err)
	}
}

func TestMaxAgeOf(t *testing.T) {
	for header, want := range map[string]time.Duration{
		"":                      -1,
		"public":                -1,
		"max-age=60":            time.Minute,
		"public, max-age=3600":  time.Hour,
		`max-age="30"`:          30 * time.Second,
		"no-cache":              0,
		"no-store, max-age=600": 0,
		"max-age=-5":            -1,
	} {
		if got := maxAgeOf(header); got != want {
			t.Errorf("maxAgeOf(%q) = %s, want %s", header, got, want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://keys.example.com/jwks.json": true,
		"http://127.0.0.1:8000/jwks":         true,
		"http://localhost/jwks":              true,
		"http://[::1]:9/jwks":                true,
		"http://keys.example.com/jwks.json":  false,
		"http://10.0.0.1/jwks":               false,
		"ftp://keys.example.com/jwks":        false,
		"/jwks.json":                         false,
	} {
		if got := CheckURL(raw) == nil; got != ok {
			t.Errorf("CheckURL(%q) ok = %v, want %v", raw, got, ok)
		}
	}
}

// TestLoggableURL: a key-set URL reaches logs and errors without the
// password or query that may authenticate the gateway to the key server.
func TestLoggableURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://keys.example/jwks.json", "https://keys.example/jwks.json"},
		{"https://gw:s3cret@keys.example/jwks.json", "https://gw:xxxxx@keys.example/jwks.json"},
		{"https://keys.example/jwks.json?token=s3cret#frag", "https://keys.example/jwks.json"},
		{"http://127.0.0.1:8081/jwks", "http://127.0.0.1:8081/jwks"},
		{"https://keys.example/%zz", "(an unparseable URL)"},
	}
	for _, tc := range tests {
		if got := LoggableURL(tc.in); got != tc.want {
			t.Errorf("LoggableURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if err := CheckURL("http://gw:s3cret@keys.example/jwks?token=s3cret"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("checkJWKSURL error %v; want a refusal that does not quote the credentials", err)
	}
}

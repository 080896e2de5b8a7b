package envelope

import (
	"net/http"
	"os"
	"regexp"
	"slices"
	"testing"
)

// TestEveryReasonHasAVerdict: a reason code without a verdict would answer
// status 0, which net/http turns into a panic.
func TestEveryReasonHasAVerdict(t *testing.T) {
	source, err := os.ReadFile("reason.go")
	if err != nil {
		t.Fatal(err)
	}
	declared := regexp.MustCompile(`(?m)^\t(Reason\w+)\s+Reason = "(\w+)"`).FindAllStringSubmatch(string(source), -1)
	if len(declared) < 40 {
		t.Fatalf("found only %d reason declarations", len(declared))
	}
	seen := map[string]bool{}
	for _, d := range declared {
		code := Reason(d[2])
		if seen[d[2]] {
			t.Errorf("code %q is declared twice", d[2])
		}
		seen[d[2]] = true
		v := VerdictOf(code)
		if http.StatusText(v.Status) == "" || !slices.Contains(Types, v.Type) {
			t.Errorf("%s (%s) answers %d %q", d[1], code, v.Status, v.Type)
		}
	}
}

func TestNormalisedType(t *testing.T) {
	for status, want := range map[int]string{
		400: TypeInvalidMessage, 405: TypeInvalidMessage, 409: TypeInvalidMessage, 413: TypeInvalidMessage,
		415: TypeInvalidMessage, 422: TypeInvalidMessage, 401: TypeUnauthorized, 403: TypeForbidden,
		404: TypeResourceNotFound, 429: TypeUnexpected, 500: TypeUnexpected, 502: TypeUnexpected, 503: TypeUnexpected, 418: TypeUnexpected,
	} {
		if got := NormalisedType(status); got != want {
			t.Errorf("NormalisedType(%d) = %s, want %s", status, got, want)
		}
	}
}

func TestClip(t *testing.T) {
	long := string(make([]byte, 100))
	for _, tc := range []struct{ in, want string }{
		{"k1", "k1"},
		{long[:64], long[:64]},
		{long, long[:64] + "..."},
		{string(make([]byte, 63)) + "é", string(make([]byte, 63)) + "..."},
	} {
		if got := Clip(tc.in); got != tc.want {
			t.Errorf("Clip(%d bytes) = %d bytes, want %d", len(tc.in), len(got), len(tc.want))
		}
	}
}

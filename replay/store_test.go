package replay

import "testing"

// TestKeyForSeparatesHeaderFromPayload: moving bytes across the boundary
// between header and payload makes another key.
func TestKeyForSeparatesHeaderFromPayload(t *testing.T) {
	tests := []struct {
		name              string
		header1, payload1 string
		header2, payload2 string
		same              bool
	}{
		{"identical", `{"alg":"ES256"}`, `{"iat":1}`, `{"alg":"ES256"}`, `{"iat":1}`, true},
		{"byte moved across", `{"alg":"ES256"}x`, `{"iat":1}`, `{"alg":"ES256"}`, `x{"iat":1}`, false},
		{"payload differs", `{"alg":"ES256"}`, `{"iat":1}`, `{"alg":"ES256"}`, `{"iat":2}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := KeyFor([]byte(tc.header1), []byte(tc.payload1))
			b := KeyFor([]byte(tc.header2), []byte(tc.payload2))
			if (a == b) != tc.same {
				t.Fatalf("same key = %v, want %v", a == b, tc.same)
			}
		})
	}
}

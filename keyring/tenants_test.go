package keyring

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestParseTenants(t *testing.T) {
	sum := sha256.Sum256([]byte("ak_a_secret"))
	hash := hex.EncodeToString(sum[:])
	tests := []struct {
		name string
		doc  string
		why  string // part of the error; empty when accepted
	}{
		{"one tenant", `{"` + hash + `":["business-a"]}`, ""},
		{"not an object", `["business-a"]`, "must be a JSON object mapping each API key's lowercase hex SHA-256 to a list of kids"},
		{"uppercase hash", `{"` + strings.ToUpper(hash) + `":["a"]}`, "lowercase hex SHA-256"},
		{"short hash", `{"abc":["a"]}`, "lowercase hex SHA-256"},
		{"no kids", `{"` + hash + `":[]}`, "at least one kid"},
		{"empty kid", `{"` + hash + `":[""]}`, "at least one kid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tenants, err := ParseTenants([]byte(tc.doc))
			if tc.why != "" {
				if err == nil || !strings.Contains(err.Error(), tc.why) {
					t.Fatalf("got %v, want an error about %q", err, tc.why)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if kids, ok := tenants.Kids("ak_a_secret"); !ok || len(kids) != 1 || kids[0] != "business-a" {
				t.Fatalf("Kids = %v %v", kids, ok)
			}
			if _, ok := tenants.Kids("ak_guess"); ok {
				t.Fatal("an unregistered API key has kids")
			}
		})
	}
}

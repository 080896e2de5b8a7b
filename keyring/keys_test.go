package keyring

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

// jwkJSON is the JWK of raw with the given members set.
func jwkJSON(t *testing.T, raw any, members map[string]any) string {
	t.Helper()
	k, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	for name, value := range members {
		if err := k.Set(name, value); err != nil {
			t.Fatal(err)
		}
	}
	data, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func publicJWK(t *testing.T, priv crypto.Signer, members map[string]any) string {
	return jwkJSON(t, priv.Public(), members)
}

func TestParseJWKS(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	all := []string{"ES256", "ES384", "EdDSA", "RS256", "PS256"}
	tests := []struct {
		name    string
		key     string
		allowed []string
		alg     string // the key's algorithm when accepted
		why     string // part of the reason when skipped
	}{
		{"EC key without alg takes its curve's", publicJWK(t, p256, map[string]any{"kid": "a"}), all, "ES256", ""},
		{"EC key with its curve's alg", publicJWK(t, p384, map[string]any{"kid": "a", "alg": jwa.ES384()}), all, "ES384", ""},
		{"Ed25519 key", publicJWK(t, ed, map[string]any{"kid": "a"}), all, "EdDSA", ""},
		{"RSA key with alg", publicJWK(t, rsa2048, map[string]any{"kid": "a", "alg": jwa.PS256()}), all, "PS256", ""},
		{"RSA key without alg", publicJWK(t, rsa2048, map[string]any{"kid": "a"}), all, "", "must name its alg"},
		{"alg contradicting the curve", publicJWK(t, p256, map[string]any{"kid": "a", "alg": jwa.ES384()}), all, "", "contradicts curve"},
		{"no kid", publicJWK(t, p256, nil), all, "", "no kid"},
		{"use enc", publicJWK(t, p256, map[string]any{"kid": "a", "use": "enc"}), all, "", `use is "enc"`},
		{"key_ops without verify", publicJWK(t, p256, map[string]any{"kid": "a", "key_ops": []string{"encrypt"}}), all, "", "key_ops"},
		{"private key", jwkJSON(t, p256, map[string]any{"kid": "a"}), all, "", "private key"},
		{"algorithm not allowed", publicJWK(t, p256, map[string]any{"kid": "a"}), []string{"ES384"}, "", "not among the allowed"},
		{"HMAC key", `{"kty":"oct","kid":"a","k":"c2VjcmV0"}`, all, "", "unsupported key type"},
		{"not a JWK", `{"kid":"a"}`, all, "", "not a valid or supported JWK"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, skipped, err := ParseJWKS([]byte(`{"keys":[`+tc.key+`]}`), tc.allowed)
			if err != nil {
				t.Fatal(err)
			}
			if tc.why == "" {
				if len(keys) != 1 || keys[0].Alg() != tc.alg || keys[0].Kid() != "a" {
					t.Fatalf("got %d keys, skipped %v; want one %s key", len(keys), skipped, tc.alg)
				}
				return
			}
			if len(keys) != 0 || len(skipped) != 1 || skipped[0].Index != 0 || !strings.Contains(skipped[0].Why, tc.why) {
				t.Fatalf("got %d keys, skipped %+v; want it skipped because %q", len(keys), skipped, tc.why)
			}
		})
	}
}

func TestParseJWKSRefusesDocuments(t *testing.T) {
	for name, doc := range map[string]string{
		"not JSON":       `{"keys":`,
		"no keys array":  `{"kty":"EC"}`,
		"keys not array": `{"keys":{}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := ParseJWKS([]byte(doc), []string{"ES256"}); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestNewSetRefusesDuplicateKid(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys, _, err := ParseJWKS([]byte(`{"keys":[`+publicJWK(t, p256, map[string]any{"kid": "a"})+`,`+publicJWK(t, other, map[string]any{"kid": "a"})+`]}`), []string{"ES256"})
	if err != nil || len(keys) != 2 {
		t.Fatalf("%d keys, %v", len(keys), err)
	}
	if _, err := NewSet(keys); err == nil || !strings.Contains(err.Error(), `two keys have kid "a"`) {
		t.Fatalf("got %v", err)
	}
}

// TestVerifyRecordsSuccess: only a signature that verifies moves the key
// ahead for tokens without kid, and a DER ECDSA signature never verifies.
func TestVerifyRecordsSuccess(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys, _, err := ParseJWKS([]byte(`{"keys":[`+publicJWK(t, p256, map[string]any{"kid": "a"})+`]}`), []string{"ES256"})
	if err != nil || len(keys) != 1 {
		t.Fatalf("%d keys, %v", len(keys), err)
	}
	key := keys[0]
	input := []byte("header.payload")
	good, err := jwsbb.SignECDSA(p256, input, crypto.SHA256, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(input)
	der, err := ecdsa.SignASN1(rand.Reader, p256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		signature []byte
		verifies  bool
	}{
		{"DER instead of raw R||S", der, false},
		{"truncated signature", good[:len(good)-1], false},
		{"raw R||S", good, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := key.LastVerified()
			err := key.Verify(input, tc.signature)
			if (err == nil) != tc.verifies {
				t.Fatalf("verified = %v, want %v (%v)", err == nil, tc.verifies, err)
			}
			if moved := key.LastVerified() != before; moved != tc.verifies {
				t.Fatalf("LastVerified moved = %v, want %v", moved, tc.verifies)
			}
		})
	}
}

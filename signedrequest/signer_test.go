package signedrequest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
	"go.uber.org/zap"

	"github.com/checkoutgw/checkoutgw/keyring"
)

// testSigner signs tokens with a fresh ECDSA key, without any gateway.
type testSigner struct {
	alg  string
	priv *ecdsa.PrivateKey
}

func newTestSigner(t testing.TB, alg string) *testSigner {
	t.Helper()
	curve := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384()}[alg]
	priv, err := ecdsa.GenerateKey(curve, rand.Reader)
	must(t, err)
	return &testSigner{alg: alg, priv: priv}
}

// signRaw signs the exact header and payload JSON texts, so tests can build
// tokens that no JOSE library would produce.
func (s *testSigner) signRaw(t testing.TB, headerJSON, payloadJSON string) string {
	t.Helper()
	input := base64.RawURLEncoding.EncodeToString([]byte(headerJSON)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payloadJSON))
	hash := map[string]crypto.Hash{"ES256": crypto.SHA256, "ES384": crypto.SHA384}[s.alg]
	sig, err := jwsbb.SignECDSA(s.priv, []byte(input), hash, rand.Reader)
	must(t, err)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// requestClaimsJSON are claims the provider's rules ask for, issued now, for
// a POST without query or body.
func requestClaimsJSON(t testing.TB) string {
	t.Helper()
	now := time.Now().Unix()
	data, err := json.Marshal(map[string]any{"aud": DefaultAudience, "iat": now, "exp": now + 300, "method": "POST", "path": "/checkout/manage"})
	must(t, err)
	return string(data)
}

// ringOf is a key ring trusting the public keys, loaded as a JWK set file
// would be, with the default algorithms.
func ringOf(t testing.TB, public ...jwk.Key) *keyring.Ring {
	t.Helper()
	set := jwk.NewSet()
	for _, pub := range public {
		must(t, set.AddKey(pub))
	}
	setJSON, err := json.Marshal(set)
	must(t, err)
	keys, _, err := keyring.ParseJWKS(setJSON, DefaultAlgorithms)
	must(t, err)
	ring, err := keyring.NewRing(keys, DefaultAlgorithms, zap.NewNop(), nil)
	must(t, err)
	return ring
}

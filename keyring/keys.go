package keyring

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// minRSABits is the smallest RSA modulus accepted for a signing key.
const minRSABits = 2048

// Key is one trusted public key, ready to verify: its algorithm is fixed by
// the key itself, never taken from a token.
type Key struct {
	kid      string
	alg      *algorithm
	verifier verifier
	// lastVerified orders candidates for tokens without kid: the key that
	// verified most recently is tried first.
	lastVerified atomic.Int64
}

// Kid is the key's id.
func (k *Key) Kid() string { return k.kid }

// Alg is the one algorithm the key verifies.
func (k *Key) Alg() string { return k.alg.name }

// Verify checks signature over signingInput and, when it verifies, records
// the time for LastVerified.
func (k *Key) Verify(signingInput, signature []byte) error {
	if err := k.verifier.verify(signingInput, signature); err != nil {
		return err
	}
	k.lastVerified.Store(time.Now().UnixNano())
	return nil
}

// LastVerified is when the key last verified a signature, in Unix
// nanoseconds; zero if never.
func (k *Key) LastVerified() int64 { return k.lastVerified.Load() }

// Set is an immutable view of every trusted key, swapped whole when a
// source changes. Lookup by kid is a map access whatever the set's size.
type Set struct {
	byKid map[string]*Key
	byAlg map[string][]*Key
}

// NewSet indexes keys by kid and by algorithm; two keys with one kid are
// an error.
func NewSet(keys []*Key) (*Set, error) {
	ks := &Set{byKid: make(map[string]*Key, len(keys)), byAlg: make(map[string][]*Key)}
	for _, k := range keys {
		if _, dup := ks.byKid[k.kid]; dup {
			return nil, fmt.Errorf("two keys have kid %q", k.kid)
		}
		ks.byKid[k.kid] = k
		ks.byAlg[k.alg.name] = append(ks.byAlg[k.alg.name], k)
	}
	return ks, nil
}

// Len is the number of keys; a nil set has none.
func (ks *Set) Len() int {
	if ks == nil {
		return 0
	}
	return len(ks.byKid)
}

// ByKid finds the key with kid.
func (ks *Set) ByKid(kid string) (*Key, bool) {
	if ks == nil {
		return nil, false
	}
	k, ok := ks.byKid[kid]
	return k, ok
}

// ForAlg lists the keys that verify alg. The slice is shared: clone it
// before changing it.
func (ks *Set) ForAlg(alg string) []*Key {
	if ks == nil {
		return nil
	}
	return ks.byAlg[alg]
}

// Skipped records a key left out of a set and why, for the log. It names
// the key by kid or position only, never by its material.
type Skipped struct {
	Index int
	Kid   string
	Why   string
}

// ParseJWKS reads a JWK set key by key: a key that cannot serve one of the
// allowed algorithms is skipped, not fatal. An error means the document
// itself is unusable.
func ParseJWKS(data []byte, allowed []string) ([]*Key, []Skipped, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
		Kty  string            `json:"kty"`
		D    string            `json:"d"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("parsing JWK set: %w", err)
	}
	switch {
	case doc.Keys == nil && doc.D != "":
		return nil, nil, errors.New("this is a private key, not a set of public keys: give the public set instead (caddy checkout keygen writes it as <kid>.jwks.json)")
	case doc.Keys == nil && doc.Kty != "":
		return nil, nil, errors.New(`this is a single JWK, not a JWK set: wrap it as {"keys": [<the key>]}`)
	case doc.Keys == nil:
		return nil, nil, errors.New(`parsing JWK set: no "keys" array; a JWK set looks like {"keys": [{"kty": "EC", "kid": ..., ...}]}`)
	}
	var keys []*Key
	var skipped []Skipped
	for i, raw := range doc.Keys {
		k, kid, err := parseKey(raw, allowed)
		if err != nil {
			skipped = append(skipped, Skipped{Index: i, Kid: kid, Why: err.Error()})
			continue
		}
		keys = append(keys, k)
	}
	return keys, skipped, nil
}

// parseKey turns one JWK into a verification key, or says why it cannot be
// one. The returned kid is for logging even on error.
func parseKey(raw []byte, allowed []string) (*Key, string, error) {
	var named struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(raw, &named)
	key, err := jwk.ParseKey(raw)
	if err != nil {
		// jwx refuses, among others, RSA keys under 2048 bits here.
		return nil, named.Kid, errors.New("not a valid or supported JWK (or an RSA key under 2048 bits)")
	}
	kid, _ := key.KeyID()
	if kid == "" {
		return nil, kid, errors.New("no kid")
	}
	if use, ok := key.KeyUsage(); ok && use != "sig" {
		return nil, kid, fmt.Errorf("use is %q, not sig", use)
	}
	if ops, ok := key.KeyOps(); ok && !slices.Contains(ops, jwk.KeyOpVerify) {
		return nil, kid, errors.New("key_ops does not include verify")
	}
	if private, err := jwk.IsPrivateKey(key); err == nil && private {
		return nil, kid, errors.New("a private key has no place in a trusted key set")
	}
	var public any
	if err := jwk.Export(key, &public); err != nil {
		return nil, kid, fmt.Errorf("unsupported key type %s", key.KeyType())
	}
	curve, fixedAlg, err := keyCurve(public)
	if err != nil {
		return nil, kid, err
	}
	algName := fixedAlg
	if a, ok := key.Algorithm(); ok {
		algName = a.String()
		if fixedAlg != "" && algName != fixedAlg {
			return nil, kid, fmt.Errorf("alg %s contradicts curve %s", algName, curve)
		}
	}
	if algName == "" {
		return nil, kid, errors.New("an RSA key must name its alg")
	}
	alg, known := supportedAlgorithms[algName]
	if !known {
		return nil, kid, fmt.Errorf("alg %s is not a supported signature algorithm", algName)
	}
	if alg.kty != keyTypeOf(public) {
		return nil, kid, fmt.Errorf("alg %s does not fit a %s key", algName, keyTypeOf(public))
	}
	if !slices.Contains(allowed, algName) {
		return nil, kid, fmt.Errorf("alg %s is not among the allowed algorithms", algName)
	}
	v, err := newVerifier(alg, public)
	if err != nil {
		return nil, kid, err
	}
	return &Key{kid: kid, alg: alg, verifier: v}, kid, nil
}

// keyCurve names an EC or OKP key's curve and the one algorithm it fixes, and
// refuses RSA keys that are too small. RSA keys fix no algorithm.
func keyCurve(public any) (curve, alg string, err error) {
	switch pub := public.(type) {
	case *ecdsa.PublicKey:
		curve = pub.Curve.Params().Name
		alg, ok := curveAlgorithms[curve]
		if !ok {
			return "", "", fmt.Errorf("curve %s is not supported", curve)
		}
		return curve, alg, nil
	case ed25519.PublicKey:
		return "Ed25519", "EdDSA", nil
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits {
			return "", "", fmt.Errorf("RSA key of %d bits is under %d", pub.N.BitLen(), minRSABits)
		}
		return "", "", nil
	}
	return "", "", fmt.Errorf("unsupported key type %T", public)
}

func keyTypeOf(public any) string {
	switch public.(type) {
	case *ecdsa.PublicKey:
		return "EC"
	case *rsa.PublicKey:
		return "RSA"
	case ed25519.PublicKey:
		return "OKP"
	}
	return "unknown"
}

package keyring

import (
	"crypto"
	"maps"
	"slices"
)

// algorithm is a JWS signature algorithm the gateway can verify: which key
// type and curve it needs and how its signature is checked.
type algorithm struct {
	name string
	kty  string
	crv  string // for EC and OKP keys
	hash crypto.Hash
	pss  bool
}

// supportedAlgorithms lists every asymmetric JWS algorithm the gateway can
// verify. `none` and the HMAC family are absent on purpose: a public key must
// never be usable as a shared secret.
var supportedAlgorithms = map[string]*algorithm{
	"ES256": {name: "ES256", kty: "EC", crv: "P-256", hash: crypto.SHA256},
	"ES384": {name: "ES384", kty: "EC", crv: "P-384", hash: crypto.SHA384},
	"ES512": {name: "ES512", kty: "EC", crv: "P-521", hash: crypto.SHA512},
	"RS256": {name: "RS256", kty: "RSA", hash: crypto.SHA256},
	"RS384": {name: "RS384", kty: "RSA", hash: crypto.SHA384},
	"RS512": {name: "RS512", kty: "RSA", hash: crypto.SHA512},
	"PS256": {name: "PS256", kty: "RSA", hash: crypto.SHA256, pss: true},
	"PS384": {name: "PS384", kty: "RSA", hash: crypto.SHA384, pss: true},
	"PS512": {name: "PS512", kty: "RSA", hash: crypto.SHA512, pss: true},
	"EdDSA": {name: "EdDSA", kty: "OKP", crv: "Ed25519"},
}

// curveAlgorithms gives the one algorithm an EC or OKP key can serve, so a
// key without `alg` still has exactly one.
var curveAlgorithms = map[string]string{
	"P-256":   "ES256",
	"P-384":   "ES384",
	"P-521":   "ES512",
	"Ed25519": "EdDSA",
}

// Supported reports whether name is a signature algorithm the gateway can
// verify.
func Supported(name string) bool {
	_, ok := supportedAlgorithms[name]
	return ok
}

// SupportedNames lists the supported algorithms in order, for messages.
func SupportedNames() []string {
	return slices.Sorted(maps.Keys(supportedAlgorithms))
}

// CurveAlgorithm is the one algorithm an EC or OKP curve fixes, if any.
func CurveAlgorithm(curve string) (string, bool) {
	alg, ok := curveAlgorithms[curve]
	return alg, ok
}

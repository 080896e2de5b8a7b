package keyring

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"sync"
)

var errSignature = errors.New("signature does not verify")

// verifier checks one signature with a key prepared at parse time: the hot
// path converts nothing and goes through no library but the standard one.
type verifier interface {
	verify(signingInput, signature []byte) error
}

// newVerifier prepares public for alg, whose key type the caller has
// already matched.
func newVerifier(alg *algorithm, public crypto.PublicKey) (verifier, error) {
	switch pub := public.(type) {
	case *ecdsa.PublicKey:
		return &ecdsaVerifier{pub: pub, hash: alg.hash, size: (pub.Curve.Params().BitSize + 7) / 8, alg: alg.name}, nil
	case *rsa.PublicKey:
		v := &rsaVerifier{pub: pub, hash: alg.hash}
		if alg.pss {
			// RFC 7518 §3.5: the salt is as long as the hash, as jwx has it.
			v.pss = &rsa.PSSOptions{Hash: alg.hash, SaltLength: rsa.PSSSaltLengthEqualsHash}
		}
		return v, nil
	case ed25519.PublicKey:
		if len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("an Ed25519 key is %d bytes, not %d", ed25519.PublicKeySize, len(pub))
		}
		return ed25519Verifier(pub), nil
	}
	return nil, fmt.Errorf("unsupported key type %T", public)
}

// digest hashes signingInput into buf, on the stack of the caller.
func digest(hash crypto.Hash, signingInput []byte, buf *[sha512.Size]byte) []byte {
	switch hash {
	case crypto.SHA256:
		sum := sha256.Sum256(signingInput)
		return buf[:copy(buf[:], sum[:])]
	case crypto.SHA384:
		sum := sha512.Sum384(signingInput)
		return buf[:copy(buf[:], sum[:])]
	case crypto.SHA512:
		sum := sha512.Sum512(signingInput)
		return buf[:copy(buf[:], sum[:])]
	}
	panic("keyring: no digest for " + hash.String())
}

type ecdsaVerifier struct {
	pub  *ecdsa.PublicKey
	hash crypto.Hash
	size int // bytes of r and of s
	alg  string
}

// verify takes only the JWS form of an ECDSA signature, r and s as
// fixed-size big-endian integers (RFC 7518 §3.4): a DER signature has
// another length and is refused before any arithmetic.
func (v *ecdsaVerifier) verify(signingInput, signature []byte) error {
	if len(signature) != 2*v.size {
		return fmt.Errorf("%w: an %s signature is %d bytes of raw R||S", errSignature, v.alg, 2*v.size)
	}
	var sum [sha512.Size]byte
	der := derBuffers.Get().(*[maxDERSignature]byte)
	defer derBuffers.Put(der)
	sig, ok := appendDERSignature(der[:0], signature[:v.size], signature[v.size:])
	if !ok || !ecdsa.VerifyASN1(v.pub, digest(v.hash, signingInput, &sum), sig) {
		return errSignature
	}
	return nil
}

// derBuffers holds the DER form's room between verifications. For all the
// compiler can prove, crypto/ecdsa keeps the signature it is given, so
// room on the stack would be moved to the heap on every verification;
// VerifyASN1 is done with it when it returns.
var derBuffers = sync.Pool{New: func() any { return new([maxDERSignature]byte) }}

// maxDERSignature is the longest DER form of a P-521 signature: a sequence
// with a two-byte length around two integers of 66 bytes and a sign byte.
const maxDERSignature = 3 + 2*(2+1+66)

// appendDERSignature writes r and s as the ASN.1 SEQUENCE of two INTEGERs
// that crypto/ecdsa verifies, without the big integers and builder that
// ecdsa.Verify would allocate for it. A zero r or s has no positive
// encoding and is refused, as ecdsa.Verify refuses it.
func appendDERSignature(dst, r, s []byte) ([]byte, bool) {
	r, s = trimLeadingZeros(r), trimLeadingZeros(s)
	if len(r) == 0 || len(s) == 0 {
		return nil, false
	}
	content := derIntegerLen(r) + derIntegerLen(s)
	dst = append(dst, 0x30) // SEQUENCE
	if content >= 0x80 {
		dst = append(dst, 0x81)
	}
	dst = append(dst, byte(content))
	return appendDERInteger(appendDERInteger(dst, r), s), true
}

func trimLeadingZeros(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// derIntegerLen is the encoded length of a positive integer without
// leading zeros: tag, length, a zero byte when the top bit is set (so it
// does not read as negative), the bytes.
func derIntegerLen(b []byte) int {
	return 2 + int(b[0]>>7) + len(b)
}

func appendDERInteger(dst, b []byte) []byte {
	dst = append(dst, 0x02, byte(int(b[0]>>7)+len(b))) // INTEGER
	if b[0]&0x80 != 0 {
		dst = append(dst, 0)
	}
	return append(dst, b...)
}

type rsaVerifier struct {
	pub  *rsa.PublicKey
	hash crypto.Hash
	pss  *rsa.PSSOptions // nil for PKCS #1 v1.5
}

func (v *rsaVerifier) verify(signingInput, signature []byte) error {
	var sum [sha512.Size]byte
	d := digest(v.hash, signingInput, &sum)
	var err error
	if v.pss != nil {
		err = rsa.VerifyPSS(v.pub, v.hash, d, signature, v.pss)
	} else {
		err = rsa.VerifyPKCS1v15(v.pub, v.hash, d, signature)
	}
	if err != nil {
		return errSignature
	}
	return nil
}

type ed25519Verifier ed25519.PublicKey

func (v ed25519Verifier) verify(signingInput, signature []byte) error {
	if !ed25519.Verify(ed25519.PublicKey(v), signingInput, signature) {
		return errSignature
	}
	return nil
}

package keyring

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"fmt"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

// signer signs a signing input as JWS does for one algorithm and verifies
// it as jwx does, the reference the keyring's own verifiers are held to.
type signer struct {
	alg       string
	public    crypto.PublicKey
	sign      func(input []byte) ([]byte, error)
	jwxVerify func(input, signature []byte) error
}

func testSigners(t testing.TB) []signer {
	t.Helper()
	var signers []signer
	for _, c := range []struct {
		alg   string
		curve elliptic.Curve
		hash  crypto.Hash
	}{{"ES256", elliptic.P256(), crypto.SHA256}, {"ES384", elliptic.P384(), crypto.SHA384}, {"ES512", elliptic.P521(), crypto.SHA512}} {
		priv, err := ecdsa.GenerateKey(c.curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		signers = append(signers, signer{
			alg: c.alg, public: &priv.PublicKey,
			sign:      func(in []byte) ([]byte, error) { return jwsbb.SignECDSA(priv, in, c.hash, rand.Reader) },
			jwxVerify: func(in, sig []byte) error { return jwsbb.VerifyECDSA(&priv.PublicKey, in, sig, c.hash) },
		})
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		alg  string
		hash crypto.Hash
		pss  bool
	}{{"RS256", crypto.SHA256, false}, {"RS384", crypto.SHA384, false}, {"RS512", crypto.SHA512, false}, {"PS256", crypto.SHA256, true}, {"PS384", crypto.SHA384, true}, {"PS512", crypto.SHA512, true}} {
		signers = append(signers, signer{
			alg: c.alg, public: &rsaKey.PublicKey,
			sign:      func(in []byte) ([]byte, error) { return jwsbb.SignRSA(rsaKey, in, c.hash, c.pss, rand.Reader) },
			jwxVerify: func(in, sig []byte) error { return jwsbb.VerifyRSA(&rsaKey.PublicKey, in, sig, c.hash, c.pss) },
		})
	}
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signers = append(signers, signer{
		alg: "EdDSA", public: edPub,
		sign:      func(in []byte) ([]byte, error) { return jwsbb.SignEdDSA(edPriv, in) },
		jwxVerify: func(in, sig []byte) error { return jwsbb.VerifyEdDSA(edPub, in, sig) },
	})
	if len(signers) != len(supportedAlgorithms) {
		t.Fatalf("%d signers for %d supported algorithms", len(signers), len(supportedAlgorithms))
	}
	return signers
}

// TestVerifierAgreesWithJWX holds every supported algorithm's verifier to
// jwx's answer on valid signatures and on tampered ones: a flipped bit
// anywhere in the signature or the input, a short or long signature, and,
// for ECDSA, the edge values of r and s (zero, the top bit set, leading
// zero bytes, all ones, beyond the group order).
func TestVerifierAgreesWithJWX(t *testing.T) {
	input := []byte("eyJhbGciOiJFUzI1NiJ9.eyJpYXQiOjE4MDAwMDAwMDB9")
	for _, s := range testSigners(t) {
		t.Run(s.alg, func(t *testing.T) {
			v, err := newVerifier(supportedAlgorithms[s.alg], s.public)
			if err != nil {
				t.Fatal(err)
			}
			good, err := s.sign(input)
			if err != nil {
				t.Fatal(err)
			}
			cases := map[string]struct{ input, signature []byte }{
				"valid":           {input, good},
				"truncated":       {input, good[:len(good)-1]},
				"extended":        {input, append(bytes.Clone(good), 0)},
				"empty signature": {input, nil},
				"other input":     {append(bytes.Clone(input), 'x'), good},
			}
			for i := range good {
				tampered := bytes.Clone(good)
				tampered[i] ^= 1 << (i % 8)
				cases[fmt.Sprintf("signature bit flipped in byte %d", i)] = struct{ input, signature []byte }{input, tampered}
			}
			for i := range input {
				tampered := bytes.Clone(input)
				tampered[i] ^= 0x20
				cases[fmt.Sprintf("input byte %d changed", i)] = struct{ input, signature []byte }{tampered, good}
			}
			if ec, ok := s.public.(*ecdsa.PublicKey); ok {
				for name, sig := range ecdsaEdgeSignatures(ec.Curve, good) {
					cases[name] = struct{ input, signature []byte }{input, sig}
				}
			}
			verified := 0
			for name, c := range cases {
				ours, theirs := v.verify(c.input, c.signature) == nil, s.jwxVerify(c.input, c.signature) == nil
				if ours != theirs {
					t.Errorf("%s: keyring verified = %v, jwx verified = %v", name, ours, theirs)
				}
				if ours {
					verified++
				}
			}
			if verified != 1 {
				t.Errorf("%d cases verified, want only the valid one", verified)
			}
		})
	}
}

// ecdsaEdgeSignatures replaces r or s of a raw R||S signature with the
// values a DER encoder must get right or the verification must refuse.
func ecdsaEdgeSignatures(curve elliptic.Curve, good []byte) map[string][]byte {
	size := len(good) / 2
	n := curve.Params().N.FillBytes(make([]byte, size))
	values := map[string][]byte{
		"zero":              make([]byte, size),
		"one":               append(make([]byte, size-1), 1),
		"top bit set":       append([]byte{0x80}, make([]byte, size-1)...),
		"leading zero byte": append([]byte{0}, bytes.Repeat([]byte{0xff}, size-1)...),
		"all ones":          bytes.Repeat([]byte{0xff}, size),
		"the group order":   n,
	}
	out := make(map[string][]byte)
	for name, value := range values {
		out["r "+name] = append(bytes.Clone(value), good[size:]...)
		out["s "+name] = append(bytes.Clone(good[:size]), value...)
	}
	return out
}

// TestAppendDERSignature: the DER form handed to crypto/ecdsa is the one
// its own encoder writes, for every shape of r and s.
func TestAppendDERSignature(t *testing.T) {
	tests := []struct {
		name string
		r, s []byte
		want []byte
	}{
		{"small", []byte{0, 1}, []byte{2}, []byte{0x30, 6, 2, 1, 1, 2, 1, 2}},
		{"top bit set gets a zero byte", []byte{0x80}, []byte{0, 0x7f}, []byte{0x30, 7, 2, 2, 0, 0x80, 2, 1, 0x7f}},
		{"long form sequence length", bytes.Repeat([]byte{0xff}, 66), bytes.Repeat([]byte{0xff}, 66), append(append(append([]byte{0x30, 0x81, 138, 2, 67, 0}, bytes.Repeat([]byte{0xff}, 66)...), 2, 67, 0), bytes.Repeat([]byte{0xff}, 66)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := appendDERSignature(nil, tc.r, tc.s)
			if !ok || !bytes.Equal(got, tc.want) {
				t.Fatalf("got % x %v, want % x", got, ok, tc.want)
			}
			if len(got) > maxDERSignature {
				t.Fatalf("%d bytes, over maxDERSignature", len(got))
			}
		})
	}
	if _, ok := appendDERSignature(nil, []byte{0, 0}, []byte{1}); ok {
		t.Fatal("a zero r was encoded")
	}
}

// ecdsaCase is one ECDSA algorithm's signer, a signature it made over
// input, and the keyring's prepared verifier for its key.
type ecdsaCase struct {
	signer
	signature []byte
	verifier  *ecdsaVerifier
}

// ecdsaCases signs input with a fresh key of every ECDSA algorithm.
func ecdsaCases(tb testing.TB, input []byte) []ecdsaCase {
	tb.Helper()
	var cases []ecdsaCase
	for _, s := range testSigners(tb) {
		if s.alg[:2] != "ES" {
			continue
		}
		sig, err := s.sign(input)
		if err != nil {
			tb.Fatal(err)
		}
		v, err := newVerifier(supportedAlgorithms[s.alg], s.public)
		if err != nil {
			tb.Fatal(err)
		}
		cases = append(cases, ecdsaCase{signer: s, signature: sig, verifier: v.(*ecdsaVerifier)})
	}
	return cases
}

// TestECDSAVerifyAddsNoAllocation holds the prepared ECDSA verifier to
// the allocations of crypto/ecdsa's own VerifyASN1, given a DER signature
// made in advance: taking the JWS form apart and encoding it costs none.
func TestECDSAVerifyAddsNoAllocation(t *testing.T) {
	input := bytes.Repeat([]byte("x"), 560)
	for _, c := range ecdsaCases(t, input) {
		t.Run(c.alg, func(t *testing.T) {
			v, sig := c.verifier, c.signature
			der, ok := appendDERSignature(nil, sig[:v.size], sig[v.size:])
			if !ok {
				t.Fatal("the signature has no DER form")
			}
			var sum [sha512.Size]byte
			hash := digest(v.hash, input, &sum)
			theirs := testing.AllocsPerRun(20, func() {
				if !ecdsa.VerifyASN1(v.pub, hash, der) {
					t.Fatal("crypto/ecdsa refused the signature")
				}
			})
			ours := testing.AllocsPerRun(20, func() {
				if err := v.verify(input, sig); err != nil {
					t.Fatal(err)
				}
			})
			if ours > theirs {
				t.Errorf("%v allocations per verification, crypto/ecdsa alone %v", ours, theirs)
			}
		})
	}
}

// BenchmarkVerify times the prepared verifier against jwx's, per
// algorithm, interleaved in one loop so that this machine's drift weighs on
// both alike: "of-jwx" is the keyring's time as a fraction of jwx's. The
// reported allocations are the keyring's alone.
func BenchmarkVerify(b *testing.B) {
	input := bytes.Repeat([]byte("x"), 560)
	for _, c := range ecdsaCases(b, input) {
		b.Run(c.alg, func(b *testing.B) {
			var theirs time.Duration
			b.ReportAllocs()
			for b.Loop() {
				if err := c.verifier.verify(input, c.signature); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				start := time.Now()
				if err := c.jwxVerify(input, c.signature); err != nil {
					b.Fatal(err)
				}
				theirs += time.Since(start)
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed())/float64(theirs), "of-jwx")
		})
	}
}

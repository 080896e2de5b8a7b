package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Floor{})
	httpcaddyfile.RegisterHandlerDirective("verification_floor", parseFloor)
}

// Floor is a handler for the load test only. Per request it verifies one
// ECDSA signature, as bare as the gateway's benchmarks measure it, and
// passes the request on untouched. Caddy running it in front of
// reverse_proxy therefore costs one verification plus Caddy's own
// proxying, at whatever rate the verification allows: the floor the
// gateway is measured against, in the same kind of process and at the same
// request rate.
type Floor struct {
	Alg string `json:"alg,omitempty"`

	verify func() bool
}

func (Floor) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.verification_floor",
		New: func() caddy.Module { return new(Floor) },
	}
}

// signingInputSize is about the length of a JWS signing input the gateway
// verifies for the sample body: the hash is part of the verification.
const signingInputSize = 560

// Provision signs a fixed input with a fresh key, once.
func (f *Floor) Provision(caddy.Context) error {
	curves := map[string]struct {
		curve elliptic.Curve
		hash  crypto.Hash
	}{"ES256": {elliptic.P256(), crypto.SHA256}, "ES384": {elliptic.P384(), crypto.SHA384}}
	c, ok := curves[f.Alg]
	if !ok {
		return fmt.Errorf("verification_floor: alg must be ES256 or ES384, not %q", f.Alg)
	}
	priv, err := ecdsa.GenerateKey(c.curve, rand.Reader)
	if err != nil {
		return err
	}
	input := []byte(strings.Repeat("x", signingInputSize))
	digest := func() []byte {
		if c.hash == crypto.SHA256 {
			sum := sha256.Sum256(input)
			return sum[:]
		}
		sum := sha512.Sum384(input)
		return sum[:]
	}
	r, s, err := ecdsa.Sign(rand.Reader, priv, digest())
	if err != nil {
		return err
	}
	// JWS carries r and s as fixed-size bytes; decode them per request as
	// the gateway must.
	size := (c.curve.Params().BitSize + 7) / 8
	sig := append(r.FillBytes(make([]byte, size)), s.FillBytes(make([]byte, size))...)
	f.verify = func() bool {
		rr, ss := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(&priv.PublicKey, digest(), rr, ss)
	}
	return nil
}

func (f *Floor) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !f.verify() {
		return caddyhttp.Error(http.StatusInternalServerError, errors.New("the floor's own signature did not verify"))
	}
	return next.ServeHTTP(w, r)
}

// parseFloor reads "verification_floor ES256|ES384".
func parseFloor(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	f := new(Floor)
	if err := f.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *Floor) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if !d.Args(&f.Alg) || d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

var (
	_ caddy.Provisioner           = (*Floor)(nil)
	_ caddyhttp.MiddlewareHandler = (*Floor)(nil)
	_ caddyfile.Unmarshaler       = (*Floor)(nil)
)

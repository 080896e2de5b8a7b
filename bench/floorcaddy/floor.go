package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/checkoutgw/checkoutgw/keyring"
)

func init() {
	caddy.RegisterModule(Floor{})
	httpcaddyfile.RegisterHandlerDirective("verification_floor", parseFloor)
}

// Floor is a handler for the load test only. Per request it does what any
// verifying gateway must and nothing else: it reads the request's own
// Api-Signature, verifies its signature over its own signing input with
// one configured key, and passes the request on untouched. Caddy running
// it in front of reverse_proxy is the floor the gateway is measured
// against, in the same kind of process, at the same request rate.
//
// It verifies with the gateway's own keyring.Key.Verify (raw R||S into
// crypto/ecdsa), so that gateway ÷ floor is what the gateway adds around
// the verification.
type Floor struct {
	JWKSFile string `json:"jwks_file,omitempty"`
	Kid      string `json:"kid,omitempty"`

	key *keyring.Key
}

func (Floor) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.verification_floor",
		New: func() caddy.Module { return new(Floor) },
	}
}

// Provision loads the one key the floor verifies with.
func (f *Floor) Provision(caddy.Context) error {
	data, err := os.ReadFile(f.JWKSFile)
	if err != nil {
		return fmt.Errorf("verification_floor: %w", err)
	}
	keys, _, err := keyring.ParseJWKS(data, []string{"ES256", "ES384", "ES512"})
	if err != nil {
		return fmt.Errorf("verification_floor: %w", err)
	}
	for _, k := range keys {
		if k.Kid() == f.Kid {
			f.key = k
			return nil
		}
	}
	return fmt.Errorf("verification_floor: no ECDSA key with kid %q in %s", f.Kid, f.JWKSFile)
}

// maxSignature holds the raw R||S of the largest curve, P-521.
const maxSignature = 132

func (f *Floor) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	token := r.Header.Get("Api-Signature")
	dot := strings.LastIndexByte(token, '.')
	var sig [maxSignature]byte
	if dot < 0 || base64.RawURLEncoding.DecodedLen(len(token)-dot-1) > len(sig) {
		return caddyhttp.Error(http.StatusUnauthorized, errors.New("no compact JWS in Api-Signature"))
	}
	n, err := base64.RawURLEncoding.Decode(sig[:], []byte(token[dot+1:]))
	if err != nil {
		return caddyhttp.Error(http.StatusUnauthorized, err)
	}
	if err := f.key.Verify([]byte(token[:dot]), sig[:n]); err != nil {
		return caddyhttp.Error(http.StatusUnauthorized, err)
	}
	return next.ServeHTTP(w, r)
}

// parseFloor reads "verification_floor <jwks file> <kid>".
func parseFloor(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	f := new(Floor)
	if err := f.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *Floor) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if !d.Args(&f.JWKSFile, &f.Kid) || d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

var (
	_ caddy.Provisioner           = (*Floor)(nil)
	_ caddyhttp.MiddlewareHandler = (*Floor)(nil)
	_ caddyfile.Unmarshaler       = (*Floor)(nil)
)

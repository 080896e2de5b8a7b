package signedrequest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/checkoutgw/checkoutgw/keyring"
)

// signedLifetime is how long a token made by `caddy checkout sign` lives:
// long enough for a slow network, far under the 15-minute cap.
const signedLifetime = 5 * time.Minute

// LoadSigningKey reads a private JWK and the algorithm it signs with: its
// own alg, or the one its curve fixes.
func LoadSigningKey(data []byte) (jwk.Key, jwa.SignatureAlgorithm, error) {
	var probe struct {
		Keys json.RawMessage `json:"keys"`
	}
	if json.Unmarshal(data, &probe) == nil && probe.Keys != nil {
		return nil, jwa.EmptySignatureAlgorithm(), fmt.Errorf("this is a JWK set (a {\"keys\": [...]} file, what the gateway's jwks_file takes); give the private JWK instead, the *.private.jwk.json file that `caddy checkout keygen` wrote")
	}
	key, err := jwk.ParseKey(data)
	if err != nil {
		return nil, jwa.EmptySignatureAlgorithm(), fmt.Errorf("parsing private key (a single private JWK, as `caddy checkout keygen` writes): %w", err)
	}
	if private, err := jwk.IsPrivateKey(key); err != nil || !private {
		return nil, jwa.EmptySignatureAlgorithm(), fmt.Errorf("the key file holds a public key, which cannot sign; give the private JWK (with its \"d\" member), the *.private.jwk.json file that `caddy checkout keygen` wrote")
	}
	if a, ok := key.Algorithm(); ok {
		alg, known := jwa.LookupSignatureAlgorithm(a.String())
		if !known {
			return nil, jwa.EmptySignatureAlgorithm(), fmt.Errorf("the key's alg %s is not a signature algorithm", a)
		}
		return key, alg, nil
	}
	if crv, ok := key.(interface {
		Crv() (jwa.EllipticCurveAlgorithm, bool)
	}); ok {
		if c, ok := crv.Crv(); ok {
			if name, fixed := keyring.CurveAlgorithm(c.String()); fixed {
				alg, _ := jwa.LookupSignatureAlgorithm(name)
				return key, alg, nil
			}
		}
	}
	return nil, jwa.EmptySignatureAlgorithm(), fmt.Errorf("the key names no alg and its type fixes none")
}

// RequestClaims builds the claims the provider's signing rules ask for: the
// path and query exactly as they will be sent, and the hash of the body's
// exact bytes.
func RequestClaims(method string, target *url.URL, body []byte, now time.Time) (map[string]any, error) {
	p := DefaultPolicy(now)
	return p.RequestClaims(method, target, body)
}

// RequestClaims builds the claims for a gateway with this policy: its
// audience, and a lifetime within its maximum.
func (p *Policy) RequestClaims(method string, target *url.URL, body []byte) (map[string]any, error) {
	now := p.Now()
	claims := map[string]any{
		"aud":    p.Audience,
		"iat":    now.Unix(),
		"exp":    now.Add(min(signedLifetime, p.MaxLifetime)).Unix(),
		"method": method,
		"path":   target.EscapedPath(),
	}
	if target.RawQuery != "" {
		query, err := url.ParseQuery(target.RawQuery)
		if err != nil {
			return nil, fmt.Errorf("parsing the URL's query: %w", err)
		}
		params := make(map[string]any, len(query))
		for name, values := range query {
			if len(values) == 1 {
				params[name] = values[0]
			} else {
				params[name] = values
			}
		}
		claims["queryParams"] = params
	}
	if len(body) > 0 {
		sum := sha256.Sum256(body)
		claims["bodyHash"] = hex.EncodeToString(sum[:])
	}
	return claims, nil
}

// Sign makes a compact JWS with a header of alg, typ and, when the key
// has one, kid.
func Sign(key jwk.Key, alg jwa.SignatureAlgorithm, claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding claims: %w", err)
	}
	headers := jws.NewHeaders()
	if err := headers.Set(jws.TypeKey, "JWT"); err != nil {
		return "", err
	}
	if kid, ok := key.KeyID(); ok {
		if err := headers.Set(jws.KeyIDKey, kid); err != nil {
			return "", err
		}
	}
	signed, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(headers)))
	if err != nil {
		return "", fmt.Errorf("signing: %w", err)
	}
	return string(signed), nil
}

package signedrequest

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// TestSignedRequestPassesTheContract: a token made by LoadSigningKey,
// RequestClaims and Sign passes every check Explain runs and verifies with
// the key's public half, under the default policy, with no gateway.
func TestSignedRequestPassesTheContract(t *testing.T) {
	for _, alg := range []string{"ES384", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			priv, err := jwk.Import(newTestSigner(t, alg).priv)
			must(t, err)
			must(t, priv.Set(jwk.KeyIDKey, "k-"+alg))
			privJSON, err := json.Marshal(priv)
			must(t, err)
			key, signAlg, err := LoadSigningKey(privJSON)
			must(t, err)
			if signAlg.String() != alg {
				t.Fatalf("LoadSigningKey picked %s for a %s key", signAlg, alg)
			}

			now := time.Unix(1_800_000_000, 0)
			target, err := url.Parse("https://api.example.com/v1/checkout/manage?b=2&a=1&a=3")
			must(t, err)
			body := []byte(`{"CustomerID":"c1"}`)
			claims, err := RequestClaims("POST", target, body, now)
			must(t, err)
			signed, err := Sign(key, signAlg, claims)
			must(t, err)

			for _, f := range Explain(signed, "POST", target, body, now) {
				if !f.OK {
					t.Errorf("explain fails %s: %s", f.Check, f.Detail)
				}
			}

			pub, err := priv.PublicKey()
			must(t, err)
			must(t, pub.Set(jwk.AlgorithmKey, signAlg))
			ring := ringOf(t, pub)

			p := DefaultPolicy(now)
			tok, rej := Parse(signed)
			if rej != nil {
				t.Fatal(rej)
			}
			candidates, rej := p.AppendCandidates(nil, context.Background(), ring, tok, nil)
			if rej != nil {
				t.Fatal(rej)
			}
			if _, rej := p.Verify(tok, candidates); rej != nil {
				t.Fatal(rej)
			}
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestLoadSigningKeyNamesTheFile: a public key set or a public JWK given
// where the private key belongs says which file to give instead.
func TestLoadSigningKeyNamesTheFile(t *testing.T) {
	priv, err := jwk.Import(newTestSigner(t, "ES384").priv)
	must(t, err)
	pub, err := priv.PublicKey()
	must(t, err)
	pubJSON, err := json.Marshal(pub)
	must(t, err)
	cases := []struct{ name, data, want string }{
		{name: "public key set", data: `{"keys":[` + string(pubJSON) + `]}`, want: "this is a JWK set"},
		{name: "public JWK", data: string(pubJSON), want: "the key file holds a public key, which cannot sign"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := LoadSigningKey([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "private.jwk.json") {
				t.Fatalf("got %v, want %q and the file to give", err, tc.want)
			}
		})
	}
}

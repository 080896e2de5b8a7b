package caddymodule

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/internal/bodycases"
)

// TestBodies sends every body case through a real Caddy with a valid
// signature: valid bodies reach the upstream byte for byte, invalid ones
// are answered 400 with exactly the expected properties.
func TestBodies(t *testing.T) {
	f := newVerdictFixture(t, "")
	cases := bodycases.Cases()
	if len(cases) < 80 {
		t.Fatalf("only %d body cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			f.up.reset()
			resp := f.gw.post(t, testPath, f.k384.sign(t, validClaims(tc.Body), false), tc.Body)
			if len(tc.Want) == 0 {
				if got := statusOf(t, resp); got != http.StatusOK {
					t.Fatalf("a valid body got %d", got)
				}
				if got := f.up.received(); len(got) != 1 || string(got[0].body) != tc.Body {
					t.Fatal("the upstream did not receive the body byte for byte")
				}
				return
			}
			env := decodedEnvelope(t, resp)
			if resp.StatusCode != http.StatusBadRequest || env.Type != envelope.TypeInvalidMessage || env.Extensions == nil {
				t.Fatalf("got %d %s %q", resp.StatusCode, env.Type, env.Detail)
			}
			got := slices.Sorted(maps.Keys(env.Extensions.Request))
			want := slices.Sorted(slices.Values(tc.Want))
			if !slices.Equal(got, want) {
				t.Fatalf("Extensions.Request names %q, want %q (%v)", got, want, env.Extensions.Request)
			}
			if tc.Why != "" && !slices.ContainsFunc(env.Extensions.Request[tc.Want[0]], func(r string) bool { return strings.Contains(r, tc.Why) }) {
				t.Errorf("reasons for %s are %q, want one saying %q", tc.Want[0], env.Extensions.Request[tc.Want[0]], tc.Why)
			}
			if len(f.up.received()) != 0 {
				t.Fatal("an invalid body reached the upstream")
			}
		})
	}
}

// TestFieldErrorCapThroughCaddy sends a body with a fault in each of 250
// identities: the answer lists 100 of them, in Extensions.Request and in
// RequestExtension.Body, says how many more there are, and does not grow
// with the body.
func TestFieldErrorCapThroughCaddy(t *testing.T) {
	f := newVerdictFixture(t, "")
	body := bodycases.FaultyIdentities(250)
	resp := f.gw.post(t, testPath, f.k384.sign(t, validClaims(body), false), body)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("got %d", resp.StatusCode)
	}
	env := decodedEnvelope(t, resp)
	if env.Extensions == nil || len(env.Extensions.Request) != 100 {
		t.Fatalf("Extensions = %+v", env.Extensions)
	}
	if want := "the request has 250 invalid properties: the first 100 are listed, 150 more are not"; env.Detail != want {
		t.Errorf("Detail = %q, want %q", env.Detail, want)
	}
	for _, path := range []string{"Customer.Identities[0].IDType", "Customer.Identities[99].IDType"} {
		if len(env.Extensions.Request[path]) != 1 {
			t.Errorf("%s is not listed with its reason", path)
		}
	}
	if env.RequestExtension == nil || len(env.RequestExtension.Body) != 100 {
		t.Fatalf("RequestExtension = %+v", env.RequestExtension)
	}
	for _, item := range env.RequestExtension.Body {
		if item.Reason != "SchemaValidation" || !slices.Equal([]string{item.Description}, env.Extensions.Request[item.Field]) {
			t.Fatalf("RequestExtension item %+v does not match Extensions.Request", item)
		}
	}
	answer, err := json.Marshal(env)
	must(t, err)
	twice := bodycases.FaultyIdentities(500)
	resp = f.gw.post(t, testPath, f.k384.sign(t, validClaims(twice), false), twice)
	answerTwice, err := json.Marshal(decodedEnvelope(t, resp))
	must(t, err)
	if len(answerTwice) > len(answer)+8 || len(answerTwice) > len(twice)*2/3 {
		t.Errorf("answers of %d and %d bytes for bodies of %d and %d: the cap does not hold", len(answer), len(answerTwice), len(body), len(twice))
	}
	if len(f.up.received()) != 0 {
		t.Fatal("an invalid body reached the upstream")
	}
}

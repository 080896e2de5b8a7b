package jsonbody

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/checkoutgw/checkoutgw/internal/bodycases"
	"github.com/checkoutgw/checkoutgw/strictjson"
)

func TestComparePaths(t *testing.T) {
	ordered := []string{
		"Customer.FullName.FirstName",
		"Customer.Identities[2].IDType",
		"Customer.Identities[10].IDType",
		"Customer.Identities[10].IDType2",
		"Customer.Identities[100]",
		"Customer.Identities[100].IDType",
		"Customer.PrimaryResidence",
		"Z",
	}
	for i, a := range ordered {
		for j, b := range ordered {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := comparePaths(a, b); got != want {
				t.Errorf("comparePaths(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
}

// TestFieldErrorCap checks that Extensions.Request lists at most
// maxListedProperties properties, the first ones by path, and that Detail
// counts those left out.
func TestFieldErrorCap(t *testing.T) {
	s := builtinSchema(t)
	tests := []struct {
		faults int
		detail string
	}{
		{1, "the request has 1 invalid property"},
		{maxListedProperties, "the request has 100 invalid properties"},
		{maxListedProperties + 1, "the request has 101 invalid properties: the first 100 are listed, 1 more is not"},
		{250, "the request has 250 invalid properties: the first 100 are listed, 150 more are not"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.faults), func(t *testing.T) {
			value, err := strictjson.Parse([]byte(bodycases.FaultyIdentities(tc.faults)), nil)
			must(t, err)
			rej := s.validate(value)
			if rej == nil || rej.Detail != tc.detail {
				t.Fatalf("got %+v, want Detail %q", rej, tc.detail)
			}
			want := make(map[string][]string)
			for i := range min(tc.faults, maxListedProperties) {
				want[fmt.Sprintf("Customer.Identities[%d].IDType", i)] = []string{"must be one of DrivingLicense, NationalIDCard, Passport, AddressProof, ResidencePermit, TaxID"}
			}
			if !maps.EqualFunc(rej.Fields, want, slices.Equal) {
				t.Fatalf("listed %d properties: %v", len(rej.Fields), slices.SortedFunc(maps.Keys(rej.Fields), comparePaths))
			}
		})
	}
}

// TestReasonCap checks that one property gets at most maxReasons reasons
// however many rules a schema stacks on it.
func TestReasonCap(t *testing.T) {
	rules := make([]string, 3*maxReasons)
	for i := range rules {
		rules[i] = fmt.Sprintf(`{"pattern":"^%d$"}`, i)
	}
	path := filepath.Join(t.TempDir(), "schema.json")
	must(t, os.WriteFile(path, []byte(`{"properties":{"a":{"allOf":[`+strings.Join(rules, ",")+`]}}}`), 0o600))
	s, err := Load(path, time.Now)
	must(t, err)
	rej := s.validate(map[string]any{"a": "x"})
	if rej == nil || len(rej.Fields["a"]) != maxReasons {
		t.Fatalf("got %+v, want %d reasons for a", rej, maxReasons)
	}
}

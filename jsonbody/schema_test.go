package jsonbody

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/internal/bodycases"
	"github.com/checkoutgw/checkoutgw/strictjson"
)

// builtinName is the built-in schema the gateway uses by default.
const builtinName = "create_managed_session"

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzBodyErrors runs the strict pass and the schema's error mapping on
// arbitrary bytes: they never panic, and every reported property has a
// path and at least one reason.
func FuzzBodyErrors(f *testing.F) {
	for _, tc := range bodycases.Cases() {
		f.Add([]byte(tc.Body))
	}
	schema, err := Load(builtinName, time.Now)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		value, err := strictjson.Parse(data, nil)
		if err != nil {
			return
		}
		rej := schema.validate(value)
		if rej == nil {
			return
		}
		if len(rej.Fields) == 0 {
			t.Fatalf("a schema refusal without properties: %s", rej.Detail)
		}
		for path, reasons := range rej.Fields {
			if len(reasons) == 0 || slices.Contains(reasons, "") {
				t.Fatalf("property %q without a reason", path)
			}
		}
	})
}

// TestCheck holds Check to the verdict table's order: an empty body and a
// body that is not strict JSON are body_not_json, whatever the schema says;
// only a strictly parsed body reaches the schema.
func TestCheck(t *testing.T) {
	s, err := Load(builtinName, time.Now)
	must(t, err)
	tests := []struct {
		name   string
		body   string
		reason envelope.Reason // "": accepted
		detail string          // a prefix of the Detail
		fields []string
	}{
		{"the sample body", bodycases.Valid, "", "", nil},
		{"empty", "", envelope.ReasonBodyNotJSON, "the request body is empty; it must be a JSON object", nil},
		{"repeated member", `{"CustomerID":"a","CustomerID":"b"}`, envelope.ReasonBodyNotJSON, "the request body is not strict JSON: ", nil},
		{"an array", `[]`, envelope.ReasonBodyNotJSON, "the request body is not strict JSON: ", nil},
		{"strict JSON breaking the schema", `{"CustomerID":""}`, envelope.ReasonSchema, "the request has 1 invalid property", []string{"CustomerID"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rej := s.Check([]byte(tc.body))
			if tc.reason == "" {
				if rej != nil {
					t.Fatalf("refused: %v", rej)
				}
				return
			}
			if rej == nil || rej.Reason != tc.reason || !strings.HasPrefix(rej.Detail, tc.detail) {
				t.Fatalf("got %+v, want %s with a Detail starting %q", rej, tc.reason, tc.detail)
			}
			if got := slices.Sorted(maps.Keys(rej.Fields)); !slices.Equal(got, tc.fields) {
				t.Fatalf("Fields name %q, want %q", got, tc.fields)
			}
		})
	}
}

// TestEnumSetAgreesWithItsMembers looks up every string of up to two bytes,
// and a few longer ones, in sets held as letter pairs and as a map: each
// answers exactly its members.
func TestEnumSetAgreesWithItsMembers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		members   []string
		wantPairs bool
	}{
		{"country codes", []string{"AA", "AZ", "US", "ZA", "ZW", "ZZ"}, true},
		{"a lowercase member", []string{"US", "us"}, false},
		{"a longer member", []string{"US", "USA"}, false},
		{"a digit", []string{"US", "U1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			members := make(map[string]bool)
			for _, m := range tc.members {
				members[m] = true
			}
			set := newEnumSet(members)
			if (set.pairs != nil) != tc.wantPairs {
				t.Fatalf("held as letter pairs: %v, want %v", set.pairs != nil, tc.wantPairs)
			}
			probes := []string{"", "USA", "US ", "ZZZ"}
			for a := range 256 {
				probes = append(probes, string([]byte{byte(a)}))
				for b := range 256 {
					probes = append(probes, string([]byte{byte(a), byte(b)}))
				}
			}
			for _, s := range probes {
				if set.has(s) != members[s] {
					t.Fatalf("has(%q) = %v, want %v", s, set.has(s), members[s])
				}
			}
		})
	}
}

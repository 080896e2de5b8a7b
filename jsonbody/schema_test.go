package jsonbody

import (
	"slices"
	"testing"
	"time"

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

// TestDeclaredProperties checks that the body's expected names are the
// schema's property names, so that a valid body's members are all shared.
func TestDeclaredProperties(t *testing.T) {
	s, err := Load(builtinName, time.Now)
	must(t, err)
	for _, name := range []string{"CustomerID", "Customer", "FullName", "FirstName", "DateOfBirth", "Identities", "IssuingCountry", "IDType", "PrimaryResidence", "Street2", "State", "Country"} {
		if s.names[name] != name {
			t.Errorf("%s is not among the expected names", name)
		}
	}
	if _, ok := s.names["properties"]; ok {
		t.Error("a schema keyword was taken for a property name")
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
		value, err := strictjson.Parse(data, schema.Names())
		if err != nil {
			return
		}
		rej := schema.Validate(value)
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

package openapi

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/checkoutgw/checkoutgw/jsonbody"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// compileBody compiles an operation's translated body schema the way the
// body engine does: 2020-12, formats asserted, nothing loaded.
func compileBody(t *testing.T, d *Document, action string) *jsonschema.Schema {
	t.Helper()
	for _, o := range d.Operations {
		if o.Action != action {
			continue
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(o.Body.Schema))
		if err != nil {
			t.Fatal(err)
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		c.UseLoader(noLoader{})
		if err := c.AddResource("body.json", doc); err != nil {
			t.Fatal(err)
		}
		s, err := c.Compile("body.json")
		if err != nil {
			t.Fatalf("compiling %s: %v\n%s", action, err, o.Body.Schema)
		}
		return s
	}
	t.Fatalf("no operation %s", action)
	return nil
}

// leafLocations lists where the violations are, as instance pointers with
// the keyword that failed.
func leafLocations(err error) []string {
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return nil
	}
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, "/"+strings.Join(e.InstanceLocation, "/")+" "+jsonbody.Describe(e))
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(verr)
	return out
}

func TestTranslate30(t *testing.T) {
	d := loadExample(t)
	payout := compileBody(t, d, "CreatePayout")
	card := `"PaymentMethod": {"Type": "Card", "PaymentMethodID": "0b7e4f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"}`
	for _, tc := range []struct {
		name, body string
		want       string // a violation that must be reported; "" for valid
	}{
		{"valid card", `{"CustomerID": "c1", "FiatAmount": 10, ` + card + `}`, ""},
		{"valid bank transfer", `{"CustomerID": "c1", "FiatAmount": 10, "PaymentMethod": {"Type": "BankTransfer", "IBAN": "DE89370400440532013000"}}`, ""},
		{"nullable admits null", `{"CustomerID": "c1", "FiatAmount": 10, "Reference": null, ` + card + `}`, ""},
		{"not nullable refuses null", `{"CustomerID": null, "FiatAmount": 10, ` + card + `}`, "/CustomerID must be a string"},
		{"boolean exclusiveMinimum", `{"CustomerID": "c1", "FiatAmount": 0, ` + card + `}`, "/FiatAmount must be more than 0"},
		{"readOnly property refused", `{"PayoutID": "p1", "CustomerID": "c1", "FiatAmount": 10, ` + card + `}`, "/PayoutID is not allowed"},
		{"discriminator reports the picked branch", `{"CustomerID": "c1", "FiatAmount": 10, "PaymentMethod": {"Type": "Card", "PaymentMethodID": "nope"}}`, "/PaymentMethod/PaymentMethodID must be a valid uuid"},
		{"discriminator value unknown", `{"CustomerID": "c1", "FiatAmount": 10, "PaymentMethod": {"Type": "Cash"}}`, "/PaymentMethod/Type must be one of BankTransfer, Card"},
		{"discriminator missing", `{"CustomerID": "c1", "FiatAmount": 10, "PaymentMethod": {"IBAN": "DE89370400440532013000"}}`, "/PaymentMethod is not valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := jsonschema.UnmarshalJSON(strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			got := leafLocations(payout.Validate(body))
			if tc.want == "" {
				if len(got) > 0 {
					t.Errorf("refused: %v", got)
				}
				return
			}
			// Exactly one violation: none from a branch the discriminator
			// did not pick.
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("violations %v, want exactly %q", got, tc.want)
			}
		})
	}
}

func TestTranslateFormatsAndAnnotations(t *testing.T) {
	d := loadExample(t)
	cms := compileBody(t, d, "CreateManagedSession")
	schema := string(d.Operations[0].Body.Schema)
	for _, absent := range []string{`"example"`, `"x-enum-source"`, `"discriminator"`, `"nullable"`, `#/components/`} {
		if strings.Contains(schema, absent) {
			t.Errorf("translated schema still holds %s", absent)
		}
	}
	person := `"Customer": {"FullName": {"FirstName": "A", "LastName": "B"}, "DateOfBirth": "%s", "Identities": [],
	  "PrimaryResidence": {"Street": "Main St", "City": "X", "PostCode": "1", "State": "CA", "Country": "US"}}`
	for _, tc := range []struct{ name, date, want string }{
		{"valid date", "1990-01-31", ""},
		{"not a calendar date", "2023-02-29", "/Customer/DateOfBirth must be a valid date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := jsonschema.UnmarshalJSON(strings.NewReader(`{"CustomerID": "c1", ` + strings.Replace(person, "%s", tc.date, 1) + `}`))
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(leafLocations(cms.Validate(body)), "; ")
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTranslateRefSiblingsIgnoredIn30(t *testing.T) {
	d, err := Load([]byte(doc30(`
  /a:
    post:
      operationId: A
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                n: {$ref: '#/components/schemas/N', maximum: 1}
      responses: {'200': {description: ok}}
components:
  schemas:
    N: {type: integer, minimum: 0}
`)), "")
	if err != nil {
		t.Fatal(err)
	}
	s := compileBody(t, d, "A")
	body, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"n": 5}`))
	if err := s.Validate(body); err != nil {
		t.Errorf("a sibling of $ref applied in 3.0: %v", err)
	}
	body, _ = jsonschema.UnmarshalJSON(strings.NewReader(`{"n": -1}`))
	if err := s.Validate(body); err == nil {
		t.Error("the referenced schema was not applied")
	}
}

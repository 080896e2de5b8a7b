package jsonbody

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/checkoutgw/checkoutgw/internal/bodycases"
	"github.com/checkoutgw/checkoutgw/strictjson"
)

// schemaFaults validates body with s, after checking that the fast checker
// agrees, and returns Extensions.Request (nil: accepted).
func schemaFaults(t *testing.T, s *Schema, body string) map[string][]string {
	t.Helper()
	agreeOn(t, s, []byte(body))
	value, err := strictjson.Parse([]byte(body), nil)
	must(t, err)
	if rej := s.validate(value); rej != nil {
		return rej.Fields
	}
	return nil
}

// TestDateOfBirthBounds holds DateOfBirth between 1900-01-01 and today,
// today being the UTC date of the clock at validation time.
func TestDateOfBirthBounds(t *testing.T) {
	const dob = "Customer.DateOfBirth"
	at := func(s string) time.Time {
		when, err := time.Parse(time.RFC3339, s)
		must(t, err)
		return when
	}
	tests := []struct {
		name string
		now  time.Time
		date string
		why  string // empty: accepted
	}{
		{"today", schemaToday, "2026-06-15", ""},
		{"yesterday", schemaToday, "2026-06-14", ""},
		{"tomorrow", schemaToday, "2026-06-16", "must not be in the future"},
		{"next year", schemaToday, "2027-01-01", "must not be in the future"},
		{"9999-12-31", schemaToday, "9999-12-31", "must not be in the future"},
		{"1900-01-01", schemaToday, "1900-01-01", ""},
		{"1899-12-31", schemaToday, "1899-12-31", "must not be before 1900-01-01"},
		{"0001-01-01", schemaToday, "0001-01-01", "must not be before 1900-01-01"},
		{"first second of the day", at("2026-06-16T00:00:00Z"), "2026-06-16", ""},
		{"last second of the day before", at("2026-06-15T23:59:59Z"), "2026-06-16", "must not be in the future"},
		{"UTC date when the clock's zone is behind", at("2026-06-15T23:30:00-05:00"), "2026-06-16", ""},
		{"UTC date when the clock's zone is ahead", at("2026-06-16T00:30:00+02:00"), "2026-06-16", "must not be in the future"},
		{"leap day today", at("2028-02-29T08:00:00Z"), "2028-02-29", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load(builtinName, fixedClock(tc.now))
			must(t, err)
			got := schemaFaults(t, s, bodycases.With(bodycases.Set(bodycases.Customer, "DateOfBirth", tc.date)))
			if tc.why == "" {
				if got != nil {
					t.Fatalf("refused: %v", got)
				}
				return
			}
			if want := map[string][]string{dob: {tc.why}}; !maps.EqualFunc(got, want, slices.Equal) {
				t.Fatalf("Extensions.Request = %v, want %v", got, want)
			}
		})
	}
}

// TestTodayIsReadAtValidation compiles the schema once and moves its clock:
// a date refused today as in the future is accepted the next day.
func TestTodayIsReadAtValidation(t *testing.T) {
	now := schemaToday
	s, err := Load(builtinName, func() time.Time { return now })
	must(t, err)
	body := bodycases.With(bodycases.Set(bodycases.Customer, "DateOfBirth", "2026-06-16"))
	if schemaFaults(t, s, body) == nil {
		t.Fatal("a birth date tomorrow was accepted")
	}
	now = now.Add(24 * time.Hour)
	if got := schemaFaults(t, s, body); got != nil {
		t.Fatalf("a birth date today was refused: %v", got)
	}
}

// TestIdentityDateOrder checks ExpiryDate against IssuedDate only when both
// are dates, and names the ExpiryDate.
func TestIdentityDateOrder(t *testing.T) {
	const expiry = "Customer.Identities[0].ExpiryDate"
	s := builtinSchema(t)
	tests := []struct {
		name   string
		edit   func(map[string]any)
		faults map[string][]string // nil: accepted
	}{
		{"a day apart", bodycases.All(bodycases.Set(bodycases.ID0, "IssuedDate", "2020-01-01"), bodycases.Set(bodycases.ID0, "ExpiryDate", "2020-01-02")), nil},
		{"the same day", bodycases.All(bodycases.Set(bodycases.ID0, "IssuedDate", "2020-01-01"), bodycases.Set(bodycases.ID0, "ExpiryDate", "2020-01-01")), nil},
		{"a day early", bodycases.All(bodycases.Set(bodycases.ID0, "IssuedDate", "2020-01-02"), bodycases.Set(bodycases.ID0, "ExpiryDate", "2020-01-01")),
			map[string][]string{expiry: {"must not be before IssuedDate"}}},
		{"across a leap day", bodycases.All(bodycases.Set(bodycases.ID0, "IssuedDate", "2024-02-29"), bodycases.Set(bodycases.ID0, "ExpiryDate", "2024-02-28")),
			map[string][]string{expiry: {"must not be before IssuedDate"}}},
		{"no IssuedDate", bodycases.All(bodycases.Drop(bodycases.ID0, "IssuedDate"), bodycases.Set(bodycases.ID0, "ExpiryDate", "1901-01-01")), nil},
		{"no ExpiryDate", bodycases.All(bodycases.Drop(bodycases.ID0, "ExpiryDate"), bodycases.Set(bodycases.ID0, "IssuedDate", "2099-01-01")), nil},
		{"ExpiryDate no date", bodycases.All(bodycases.Set(bodycases.ID0, "IssuedDate", "2020-01-02"), bodycases.Set(bodycases.ID0, "ExpiryDate", "2020-01-32")),
			map[string][]string{expiry: {"must be a real calendar date written YYYY-MM-DD"}}},
		{"IssuedDate a number", bodycases.All(bodycases.Set(bodycases.ID0, "IssuedDate", 20200102), bodycases.Set(bodycases.ID0, "ExpiryDate", "2020-01-01")),
			map[string][]string{"Customer.Identities[0].IssuedDate": {"must be a string, not number"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := schemaFaults(t, s, bodycases.With(tc.edit)); !maps.EqualFunc(got, tc.faults, slices.Equal) {
				t.Fatalf("Extensions.Request = %v, want %v", got, tc.faults)
			}
		})
	}
}

// TestVocabularyKeywordErrors checks that a schema file misusing one of the
// gateway's keywords, at any depth, does not compile.
func TestVocabularyKeywordErrors(t *testing.T) {
	tests := map[string]string{
		"plainText not a boolean":     `{"plainText":"yes"}`,
		"dateMaximum a word":          `{"properties":{"a":{"dateMaximum":"tomorrow"}}}`,
		"dateMinimum no real date":    `{"$defs":{"d":{"dateMinimum":"2024-02-30"}},"$ref":"#/$defs/d"}`,
		"dateMinimum a number":        `{"dateMinimum":1900}`,
		"dateOrder not pairs":         `{"dateOrder":["a","b"]}`,
		"dateOrder a pair of one":     `{"dateOrder":[["a"]]}`,
		"dateOrder names not strings": `{"items":{"dateOrder":[["a",1]]}}`,
	}
	for name, schema := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "schema.json")
			must(t, os.WriteFile(path, []byte(schema), 0o600))
			if _, err := Load(path, time.Now); err == nil {
				t.Fatal("compiled")
			}
		})
	}
}

// foreignKeyword is an extension the fast checker knows nothing about.
type foreignKeyword struct{}

func (foreignKeyword) Validate(*jsonschema.ValidatorContext, any) {}

// TestFastSchemaForeignKeyword checks that a keyword of another vocabulary
// leaves the schema without a fast checker, as an unknown standard one does.
func TestFastSchemaForeignKeyword(t *testing.T) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(`{"properties":{"a":{"plainText":true,"foreign":1}}}`))
	must(t, err)
	c := newSchemaCompiler(time.Now)
	c.RegisterVocabulary(&jsonschema.Vocabulary{URL: "mem:///foreign", Compile: func(_ *jsonschema.CompilerContext, obj map[string]any) (jsonschema.SchemaExt, error) {
		if _, ok := obj["foreign"]; ok {
			return foreignKeyword{}, nil
		}
		return nil, nil
	}})
	must(t, c.AddResource("mem:///foreign.json", doc))
	compiled, err := c.Compile("mem:///foreign.json")
	must(t, err)
	if _, ok := compileFastSchema(compiled, nil); ok {
		t.Fatal("a fast checker was built for a schema with a foreign keyword")
	}
}

// TestIsPlainText holds isPlainText, word-at-a-time scan included, to a
// rune-by-rune reading of the rule, with each tested rune at every offset
// of strings long enough to span several words.
func TestIsPlainText(t *testing.T) {
	forbidden := func(r rune) bool {
		return r <= 0x1f || r >= 0x7f && r <= 0x9f || r == 0x061c || r == 0x200e || r == 0x200f ||
			r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
	}
	runes := []rune{0x061b, 0x061c, 0x061d, 0x200d, 0x200e, 0x200f, 0x2010, 0x2029, 0x202a, 0x202e, 0x202f, 0x2065, 0x2066, 0x2069, 0x206a, 0xa0, 0xe9, 0xfeff, 0x1f600}
	for r := rune(0); r <= 0xa0; r++ {
		runes = append(runes, r)
	}
	for _, r := range runes {
		for length := 0; length <= 24; length++ {
			for at := 0; at <= length; at++ {
				s := strings.Repeat("a", at) + string(r) + strings.Repeat("~", length-at)
				if got := isPlainText(s); got == forbidden(r) {
					t.Fatalf("isPlainText(%q) = %v", s, got)
				}
			}
		}
	}
	if !isPlainText("") || !isPlainText(strings.Repeat(" ~", 40)) {
		t.Fatal("plain ASCII refused")
	}
}

// TestParseDateIsTimeParse holds parseDate to jsonschema's "date" format,
// time.Parse(time.DateOnly), on the spellings where a hand-written reader
// could part from it: month and day edges, leap years, signs, spaces,
// short fields and trailing text.
func TestParseDateIsTimeParse(t *testing.T) {
	for _, s := range dateSpellings {
		t.Run(s, func(t *testing.T) { agreeWithTimeParse(t, s) })
	}
}

var dateSpellings = []string{
	"2024-02-29", "2023-02-29", "1900-02-29", "2000-02-29", "0000-02-29", "0000-01-01", "9999-12-31",
	"2024-01-31", "2024-04-31", "2024-06-30", "2024-12-32", "2024-13-01", "2024-00-10", "2024-01-00",
	"2024-1-01", "2024-01-1", "+024-01-01", "-024-01-01", "2024-+1-01", "2024-01-+1", " 024-01-01",
	"2024-01-01 ", "2024/01/01", "20240101", "2024-01-011", "２０２４-01-01", "", "2024-01-0a",
}

func agreeWithTimeParse(t *testing.T, s string) {
	t.Helper()
	got, ok := parseDate(s)
	want, err := time.Parse(time.DateOnly, s)
	if ok != (err == nil) {
		t.Fatalf("parseDate(%q) ok = %v, time.Parse error = %v", s, ok, err)
	}
	if ok && got != newCalendarDate(want.Year(), int(want.Month()), want.Day()) {
		t.Fatalf("parseDate(%q) = %d, time.Parse = %v", s, got, want)
	}
}

func FuzzParseDate(f *testing.F) {
	for _, s := range dateSpellings {
		f.Add(s)
	}
	f.Fuzz(agreeWithTimeParse)
}

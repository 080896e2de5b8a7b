package strictjson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestParseStrictJSON(t *testing.T) {
	cases := []struct {
		name string
		in   string
		rule string // empty: accepted
	}{
		{"empty object", `{}`, ""},
		{"whitespace around", " \t\r\n{\"a\":1}\n ", ""},
		{"every type", `{"s":"x","n":-1.5e+3,"t":true,"f":false,"z":null,"a":[1,[2]],"o":{"p":{}}}`, ""},
		{"escapes", `{"s":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}`, ""},
		{"raw UTF-8", `{"s":"Zoë 😀"}`, ""},
		{"member names differ only in escapes", `{"a":1,"\u0062":2}`, ""},
		{"depth exactly 32", strings.Repeat(`{"a":`, 31) + `{}` + strings.Repeat(`}`, 31), ""},

		{"long plain string", `{"s":"` + strings.Repeat("abcdefgh", 9) + `"}`, ""},
		{"raw UTF-8 past a plain word", `{"s":"abcdefghijklmnoë"}`, ""},
		{"escape past a plain word", `{"s":"abcdefghij\nk"}`, ""},

		{"empty document", ``, "empty document"},
		{"not an object", `[1]`, "not an object"},
		{"a string", `"x"`, "not an object"},
		{"byte-order mark", "\xef\xbb\xbf{}", "byte-order mark"},
		{"control character past a plain word", "{\"s\":\"abcdefghijklm\x01\"}", "control character"},
		{"invalid UTF-8 past a plain word", "{\"s\":\"abcdefghijklm\xff\"}", "invalid UTF-8"},
		{"unterminated after plain words", `{"s":"abcdefghijklmnop`, "unterminated string"},
		{"trailing value", `{}{}`, "content after the JSON value"},
		{"trailing garbage", `{} x`, "content after the JSON value"},
		{"duplicate member", `{"a":1,"a":2}`, "duplicate member"},
		{"duplicate by escape", `{"a":1,"\u0061":2}`, "duplicate member"},
		{"nested duplicate", `{"o":[{"k":1,"k":1}]}`, "duplicate member"},
		{"depth 33", strings.Repeat(`{"a":`, 32) + `{}` + strings.Repeat(`}`, 32), "nesting deeper than 32"},
		{"array depth 33", `{"a":` + strings.Repeat(`[`, 32) + strings.Repeat(`]`, 32) + `}`, "nesting deeper than 32"},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", "invalid UTF-8"},
		{"invalid UTF-8 after escape", "{\"a\":\"\\n\xc3\"}", "invalid UTF-8"},
		{"overlong UTF-8", "{\"a\":\"\xc0\xaf\"}", "invalid UTF-8"},
		{"lone high surrogate", `{"a":"\ud800"}`, "lone surrogate"},
		{"lone low surrogate", `{"a":"\udc00"}`, "lone surrogate"},
		{"reversed surrogates", `{"a":"\udc00\ud800"}`, "lone surrogate"},
		{"control character", "{\"a\":\"\x01\"}", "control character"},
		{"bad escape", `{"a":"\x"}`, "invalid escape"},
		{"short unicode escape", `{"a":"\u12"}`, "invalid \\u escape"},
		{"unterminated string", `{"a":"x`, "unterminated string"},
		{"leading zero", `{"a":01}`, "expected ',' or '}'"},
		{"plus sign", `{"a":+1}`, "invalid character"},
		{"bare dot", `{"a":1.}`, "invalid number"},
		{"bare exponent", `{"a":1e}`, "invalid number"},
		{"NaN", `{"a":NaN}`, "invalid character"},
		{"trailing comma", `{"a":1,}`, "expected a member name"},
		{"single quotes", `{'a':1}`, "expected a member name"},
		{"missing colon", `{"a" 1}`, "expected ':'"},
		{"bad literal", `{"a":tru}`, "invalid literal"},
		{"truncated", `{"a":[1,2`, "unexpected end"},
		{"escape that spells an expected name's bytes", `{"a\b":1}`, ""},
		{"escaped quote after an expected name's bytes", `{"a\"b":1}`, ""},
		{"expected non-ASCII name", `{"é":1}`, ""},
		{"duplicate expected name", `{"a":1,"a":2}`, "duplicate member"},
		{"expected name and its escaped spelling", `{"a":1,"\u0061":2}`, "duplicate member"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Parse([]byte(tc.in), testMemberNames)
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				assertSameAsEncodingJSON(t, []byte(tc.in), v)
				return
			}
			if err == nil {
				t.Fatalf("accepted, want %q", tc.rule)
			}
			if !strings.Contains(err.Error(), tc.rule) {
				t.Fatalf("error %q does not say %q", err, tc.rule)
			}
		})
	}
}

func TestStrictJSONErrorsNameThePlace(t *testing.T) {
	_, err := Parse([]byte(`{"Customer":{"Identities":[{"IDType":"a","IDType":"b"}]}}`), nil)
	je, ok := err.(*Error)
	if !ok {
		t.Fatalf("got %v", err)
	}
	if je.Path != "Customer.Identities[0].IDType" || je.Offset != 41 {
		t.Errorf("got path %q offset %d", je.Path, je.Offset)
	}
	if strings.Contains(err.Error(), `"b"`) {
		t.Error("the error quotes a value")
	}
}

// assertSameAsEncodingJSON is the differential check: whatever the strict
// pass accepts, encoding/json decodes to the same value.
func assertSameAsEncodingJSON(t testing.TB, data []byte, got any) {
	t.Helper()
	var want any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&want); err != nil {
		t.Fatalf("strict pass accepted what encoding/json refuses: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("strict pass and encoding/json differ:\n strict %#v\n stdlib %#v", got, want)
	}
}

// nestedSeed is a document shaped like a Create Managed Session body.
const nestedSeed = `{"CustomerID":"c-1","Customer":{"FullName":{"FirstName":"A","LastName":"B"},"Identities":[{"IDType":"Passport","IssuedDate":"2019-03-01"}],"Score":-0.5e-7,"Active":true,"Note":null}}`

func FuzzParseStrictJSON(f *testing.F) {
	for _, seed := range []string{nestedSeed, `{}`, `{"a":"\ud83d\ude00"}`, `{"a":[1,{"b":null}]}`, `{"a":1,"a":2}`, "\xef\xbb\xbf{}", `{"a":-0.5e-7}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, names := range []MemberNames{nil, testMemberNames} {
			v, err := Parse(data, names)
			if err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("error of type %T", err)
				}
				continue
			}
			assertSameAsEncodingJSON(t, data, v)
		}
	})
}

// testMemberNames are expected names for the tests, among them names that
// newMemberNames must leave out because JSON escapes them.
var testMemberNames = NewMemberNames("a", "b", "é", "CustomerID", "Customer", "IDType", `a\b`, `a"b`, "a\b", "tab\t")

func TestMemberNamesLeaveOutEscapedNames(t *testing.T) {
	for name, want := range map[string]bool{"a": true, "é": true, "CustomerID": true, `a\b`: false, `a"b`: false, "a\b": false, "tab\t": false} {
		if _, got := testMemberNames[name]; got != want {
			t.Errorf("%q expected: %v, want %v", name, got, want)
		}
	}
}

func TestParseValueTakesAnyTopLevelValue(t *testing.T) {
	cases := []struct {
		name string
		in   string
		rule string // empty: accepted
	}{
		{"a list", `[{"a":1},{"a":2}]`, ""},
		{"a string", `"x"`, ""},
		{"an object", `{"a":1}`, ""},
		{"duplicate member in a list", `[{"a":1,"a":2}]`, "duplicate member"},
		{"trailing content", `[] []`, "content after the JSON value"},
		{"empty", ` `, "empty document"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseValue([]byte(tc.in), nil)
			switch {
			case tc.rule == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.rule != "" && (err == nil || !strings.Contains(err.Error(), tc.rule)):
				t.Fatalf("error %v, want %q", err, tc.rule)
			}
		})
	}
}

package jsonbody

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/checkoutgw/checkoutgw/internal/bodycases"
	"github.com/checkoutgw/checkoutgw/strictjson"
)

// agreeOn fails t unless the fast checker and jsonschema give the same
// answer for body. Both directions matter: a fast acceptance jsonschema
// would refuse lets a bad body through, and a fast refusal of a good body
// costs the full validation on every request.
func agreeOn(t *testing.T, s *Schema, body []byte) {
	t.Helper()
	value, err := strictjson.Parse(body, nil)
	if err != nil {
		return
	}
	var doc strictjson.Document
	must(t, doc.Parse(body))
	fast, full := s.fast.accepts(doc.Root()), s.compiled.Validate(value) == nil
	if fast != full {
		t.Fatalf("fast checker says %v, jsonschema %v, for %s", fast, full, body)
	}
}

// schemaToday is the clock the schema unit tests run on: "today" in a
// date bound is 2026-06-15.
var schemaToday = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

func fixedClock(at time.Time) func() time.Time { return func() time.Time { return at } }

func builtinSchema(t testing.TB) *Schema {
	t.Helper()
	s, err := Load(builtinName, fixedClock(schemaToday))
	if err != nil {
		t.Fatal(err)
	}
	if s.fast == nil {
		t.Fatal("the built-in schema has no fast checker: every valid body would pay for a full validation")
	}
	return s
}

// TestFastSchemaAgrees holds the fast checker to jsonschema's answers on
// every body of the body table and on every single-value edit of the
// sample body drawn from values chosen to sit on the schema's edges.
func TestFastSchemaAgrees(t *testing.T) {
	s := builtinSchema(t)
	for _, tc := range bodycases.Cases() {
		agreeOn(t, s, []byte(tc.Body))
	}
	bodies := singleEdits(bodycases.Valid, edgeValues())
	for _, country := range []string{"US", "CA", "GB", "ZZ"} {
		for _, state := range []string{"OR", "ON", "PR", "XX", ""} {
			bodies = append(bodies, bodycases.With(bodycases.All(bodycases.Set(bodycases.Residence, "Country", country), bodycases.Set(bodycases.Residence, "State", state))))
		}
	}
	for _, body := range bodies {
		agreeOn(t, s, []byte(body))
	}
	if len(bodies) < 500 {
		t.Fatalf("only %d edited bodies were generated", len(bodies))
	}
}

// FuzzFastSchemaAgrees looks for a body on which the fast checker and
// jsonschema disagree.
func FuzzFastSchemaAgrees(f *testing.F) {
	for _, tc := range bodycases.Cases() {
		f.Add([]byte(tc.Body))
	}
	s := builtinSchema(f)
	f.Fuzz(func(t *testing.T, body []byte) { agreeOn(t, s, body) })
}

// edgeValues are replacement values on and around the limits the schema
// sets, and of every JSON type.
func edgeValues() []any {
	values := []any{nil, true, false, json.Number("0"), json.Number("1.5"), map[string]any{}, []any{}, []any{"x"},
		"US", "CA", "ON", "OR", "PR", "ZZ", "us", "Passport", "passport", "TaxID",
		"2024-02-29", "2023-02-29", "2024-13-01", "2024-1-01", "20240229", "2024-02-29T00:00:00Z",
		"é", "😀", "\u0000", "a\nb",
		"1899-12-31", "1900-01-01", "2019-02-28", "2019-03-01", "2029-02-28", "2029-03-01", "2026-06-15", "2026-06-16", "9999-12-31",
		"Ann\tMarie", "a\u0085b", "a\u007fb", "\u009f", "Ann\u202eeiraM", "\u061c", "x\u200e", "x\u2069", "x\u2028", "x\ufeff"}
	for _, n := range []int{0, 1, 2, 9, 10, 11, 20, 21, 36, 37, 50, 51, 100, 101, 200, 201} {
		values = append(values, strings.Repeat("a", n))
	}
	return values
}

// singleEdits returns, for every member and item of body at any depth, the
// body with it removed and the body with it replaced by each of values, and
// the body with an unknown member added to every object.
func singleEdits(body string, values []any) []string {
	var out []string
	var visit func(path []any)
	visit = func(path []any) {
		var doc any
		if err := json.Unmarshal([]byte(body), &doc); err != nil {
			panic(err)
		}
		node := at(doc, path)
		edit := func(change func(any)) {
			var copyDoc any
			if err := json.Unmarshal([]byte(body), &copyDoc); err != nil {
				panic(err)
			}
			change(at(copyDoc, path))
			out = append(out, bodycases.EncodeJSON(copyDoc))
		}
		switch n := node.(type) {
		case map[string]any:
			edit(func(m any) { m.(map[string]any)["Unexpected"] = "x" })
			for _, name := range slices.Sorted(maps.Keys(n)) {
				edit(func(m any) { delete(m.(map[string]any), name) })
				for _, v := range values {
					edit(func(m any) { m.(map[string]any)[name] = v })
				}
				visit(append(slices.Clone(path), name))
			}
		case []any:
			for i := range n {
				for _, v := range values {
					edit(func(a any) { a.([]any)[i] = v })
				}
				visit(append(slices.Clone(path), i))
			}
		}
	}
	visit(nil)
	return out
}

func at(doc any, path []any) any {
	for _, step := range path {
		switch s := step.(type) {
		case string:
			doc = doc.(map[string]any)[s]
		case int:
			doc = doc.([]any)[s]
		}
	}
	return doc
}

// TestFastSchemaKeywords checks each keyword the fast checker implements
// against jsonschema on small schemas, and that schemas it cannot check
// exactly get no fast checker.
func TestFastSchemaKeywords(t *testing.T) {
	tests := []struct {
		name      string
		schema    string
		instances []string
	}{
		{"type", `{"type":["string","null"]}`, []string{`"a"`, `null`, `1`, `true`, `{}`, `[]`}},
		{"enum", `{"enum":["a",true,null]}`, []string{`"a"`, `true`, `false`, `null`, `"b"`, `{}`, `1`}},
		{"const", `{"const":"US"}`, []string{`"US"`, `"us"`, `null`, `["US"]`}},
		{"const null", `{"const":null}`, []string{`null`, `"null"`, `0`}},
		{"string lengths", `{"minLength":2,"maxLength":3}`, []string{`"a"`, `"ab"`, `"abc"`, `"abcd"`, `"éé"`, `"😀😀😀"`, `"😀😀😀😀"`, `5`}},
		{"pattern", `{"pattern":"^[0-9]+$"}`, []string{`"123"`, `"12a"`, `""`, `12`}},
		{"format date", `{"format":"date"}`, []string{`"2024-02-29"`, `"2023-02-29"`, `"x"`, `7`, `null`, `"2024-1-02"`, `"2024-01-2"`, `"-123-01-02"`, `"+123-01-02"`,
			`"2024-01-02T00:00:00Z"`, `"2024-01-02 "`, `"2024-13-01"`, `"0000-01-01"`, `"2024-02-30"`, `"２０２４-01-01"`}},
		{"format email", `{"format":"email"}`, []string{`"a@example.com"`, `"not an address"`, `1`}},
		{"plainText", `{"plainText":true}`, []string{`"Zoë"`, `""`, `"a\tb"`, `"a\u0000"`, `"\u001f"`, `"\u007f"`, `"\u0080"`, `"\u0085"`, `"\u009f"`, `"\u00a0"`,
			`"\u061c"`, `"\u200e"`, `"\u200f"`, `"\u202a"`, `"\u202e"`, `"\u2066"`, `"\u2069"`, `"\u2029"`, `1`}},
		{"plainText false", `{"plainText":false}`, []string{`"a\tb"`}},
		{"date bounds", `{"dateMinimum":"1900-01-01","dateMaximum":"today"}`,
			[]string{`"1899-12-31"`, `"1900-01-01"`, `"2026-06-15"`, `"2026-06-16"`, `"2026-02-30"`, `"x"`, `null`}},
		{"date bounds reversed", `{"dateMinimum":"today","dateMaximum":"2030-01-01"}`, []string{`"2026-06-14"`, `"2026-06-15"`, `"2030-01-01"`, `"2030-01-02"`}},
		{"dateOrder", `{"dateOrder":[["a","b"]]}`,
			[]string{`{"a":"2020-01-02","b":"2020-01-01"}`, `{"a":"2020-01-01","b":"2020-01-01"}`, `{"a":"2020-01-01","b":"2020-01-02"}`,
				`{"b":"2020-01-01"}`, `{"a":"2020-01-02","b":"2020-02-30"}`, `{"a":"2020-01-02","b":1}`, `[]`}},
		{"object", `{"required":["a"],"properties":{"a":{"type":"string"}},"additionalProperties":false,"minProperties":1,"maxProperties":2}`,
			[]string{`{"a":"x"}`, `{"a":1}`, `{}`, `{"b":"x"}`, `{"a":"x","b":1}`, `"not an object"`}},
		{"additional schema", `{"properties":{"a":true},"additionalProperties":{"type":"number"}}`, []string{`{"a":"x","b":1}`, `{"b":"x"}`, `{}`}},
		{"array", `{"items":{"type":"string"},"minItems":1,"maxItems":2}`, []string{`[]`, `["a"]`, `["a",1]`, `["a","b","c"]`, `{}`}},
		{"allOf", `{"allOf":[{"minLength":1},{"maxLength":2}]}`, []string{`""`, `"a"`, `"abc"`}},
		{"anyOf", `{"anyOf":[{"type":"string"},{"type":"boolean"}]}`, []string{`"a"`, `true`, `null`}},
		{"oneOf", `{"oneOf":[{"minLength":1},{"maxLength":2}]}`, []string{`""`, `"a"`, `"abc"`}},
		{"not", `{"not":{"type":"string"}}`, []string{`"a"`, `1`}},
		{"if then else", `{"if":{"const":"a"},"then":{"minLength":1},"else":{"maxLength":0}}`, []string{`"a"`, `""`, `"b"`, `1`}},
		{"nested if", `{"properties":{"c":{}},"if":{"required":["c"],"properties":{"c":{"const":"US"}}},"then":{"required":["s"]}}`,
			[]string{`{"c":"US"}`, `{"c":"US","s":1}`, `{"c":"CA"}`, `{}`}},
		{"boolean false", `false`, []string{`1`, `null`}},
		{"recursive ref", `{"$defs":{"n":{"type":"object","properties":{"next":{"$ref":"#/$defs/n"}},"additionalProperties":false}},"$ref":"#/$defs/n"}`,
			[]string{`{}`, `{"next":{"next":{}}}`, `{"next":{"next":{"x":1}}}`, `{"next":1}`}},
		{"chain of references", `{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/c"},"c":{"type":"string","maxLength":2}},"properties":{"x":{"$ref":"#/$defs/a"},"y":{"$ref":"#/$defs/a","minLength":2}},"items":{"$ref":"#/$defs/b"},"$ref":"#/$defs/a"}`,
			[]string{`"ab"`, `"abc"`, `1`, `{"x":"ab"}`, `{"x":"abc"}`, `{"y":"a"}`, `["ab"]`, `["abc"]`}},
		{"draft-07 ref replaces siblings", `{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"s":{"type":"string"}},"$ref":"#/definitions/s","maxLength":1}`,
			[]string{`"abc"`, `1`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			compiled := compileTestSchema(t, tc.schema)
			fast, ok := compileFastSchema(compiled, nil)
			if !ok {
				t.Fatal("no fast checker for a schema it should check")
			}
			for _, instance := range tc.instances {
				v, err := jsonschema.UnmarshalJSON(strings.NewReader(instance))
				if err != nil {
					t.Fatal(err)
				}
				var doc strictjson.Document
				must(t, doc.ParseValue([]byte(instance)))
				if got, want := fast.accepts(doc.Root()), compiled.Validate(v) == nil; got != want {
					t.Errorf("%s: fast checker says %v, jsonschema %v", instance, got, want)
				}
			}
		})
	}

	// Every reference-only node is shortcut to the schema it refers to.
	fast, ok := compileFastSchema(compileTestSchema(t, `{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"type":"string"}},"properties":{"x":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`), nil)
	if !ok || fast.onlyRefers() || fast.named[0].schema.onlyRefers() || fast.named[0].schema.types != strictjson.String {
		t.Error("a reference-only node was left in place of the schema it refers to")
	}

	unsupported := map[string]string{
		"integer":               `{"type":"integer"}`,
		"number bounds":         `{"minimum":1}`,
		"numeric enum":          `{"enum":[1,"a"]}`,
		"numeric const":         `{"const":1.0}`,
		"patternProperties":     `{"patternProperties":{"^a":{"type":"string"}}}`,
		"unevaluatedProperties": `{"unevaluatedProperties":false}`,
		"prefixItems":           `{"prefixItems":[{"type":"string"}]}`,
		"uniqueItems":           `{"uniqueItems":true}`,
		"dependentRequired":     `{"dependentRequired":{"a":["b"]}}`,
		"nested unsupported":    `{"properties":{"a":{"properties":{"b":{"contains":{"type":"string"}}}}}}`,
		"in-place ref loop":     `{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"allOf":[{"$ref":"#/$defs/a"}]}},"$ref":"#/$defs/a"}`,
	}
	for name, schema := range unsupported {
		if _, ok := compileFastSchema(compileTestSchema(t, schema), nil); ok {
			t.Errorf("%s: a fast checker was built for a schema it cannot check exactly", name)
		}
	}
}

func compileTestSchema(t *testing.T, schema string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	c := newSchemaCompiler(fixedClock(schemaToday))
	url := fmt.Sprintf("mem:///%s.json", strings.ReplaceAll(t.Name(), "/", "_"))
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	compiled, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return compiled
}

// TestValidBodyBuildsNoValueTree pins what the flat document is for: the
// sample body is accepted with one allocation, the text's copy, not one
// per value.
func TestValidBodyBuildsNoValueTree(t *testing.T) {
	s := builtinSchema(t)
	body := []byte(bodycases.Valid)
	if rej := s.Check(body); rej != nil {
		t.Fatalf("the sample body was refused: %v", rej)
	}
	// A Document of its own, not the pool's, which the race detector
	// empties at random.
	var doc strictjson.Document
	accept := func() {
		if doc.Parse(body) != nil || !s.fast.accepts(doc.Root()) {
			t.Fatal("the fast checker refused the sample body")
		}
	}
	if allocs := testing.AllocsPerRun(200, accept); allocs > 1 {
		t.Errorf("%v allocations to accept the sample body, want 1", allocs)
	}
}

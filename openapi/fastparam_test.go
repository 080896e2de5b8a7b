package openapi

import (
	"encoding/json"
	"testing"
)

// TestFastParamAgrees: whatever the fast path accepts, the validator
// accepts too, on values at and around every bound.
func TestFastParamAgrees(t *testing.T) {
	schemas := []string{
		`{"type": "integer", "minimum": 1, "maximum": 100}`,
		`{"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10}`,
		`{"type": "number", "minimum": 0.5}`,
		`{"type": "string", "enum": ["ASC", "DESC"]}`,
		`{"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^[a-zé]+$"}`,
		`{"type": "string", "format": "uuid"}`,
		`{"type": "string", "format": "date"}`,
		`{"type": "string", "format": "date-time"}`,
		`{"type": "boolean"}`,
	}
	values := []any{"", "a", "ab", "abc", "abcd", "éé", "ASC", "asc", "DESC",
		"0b7e4f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b", "0b7e4f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5", "0B7E4F2A-1C3D-4E5F-8A9B-0C1D2E3F4A5B",
		"2024-04-16", "2023-02-29", "2024-4-16", "2024-04-16T10:00:00Z", "2024-04-16T10:00:60Z", "2024-04-16T10:00:00.5+02:00", "2024-04-16t10:00:00z",
		json.Number("0"), json.Number("1"), json.Number("10"), json.Number("100"), json.Number("101"), json.Number("-1"),
		json.Number("9007199254740993"), json.Number("0.5"), json.Number("0.4"), true, false}
	for _, text := range schemas {
		var doc map[string]any
		if err := json.Unmarshal([]byte(text), &doc); err != nil {
			t.Fatal(err)
		}
		fast := newFastParam(doc)
		if fast == nil {
			t.Errorf("%s: no fast path", text)
			continue
		}
		compiled, err := compileParameterSchema(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range values {
			if fast.accepts(v) && compiled.Validate(v) != nil {
				t.Errorf("%s: fast path accepts %v (%T), the validator does not", text, v, v)
			}
		}
	}
}

func TestFastParamDeclinesUnknownKeywords(t *testing.T) {
	for _, text := range []string{`{"type": "string", "format": "email"}`, `{"type": "string", "not": {"const": "x"}}`, `{"$ref": "#/$defs/x"}`} {
		var doc map[string]any
		if err := json.Unmarshal([]byte(text), &doc); err != nil {
			t.Fatal(err)
		}
		if newFastParam(doc) != nil {
			t.Errorf("%s: fast path built, but it cannot decide it", text)
		}
	}
}

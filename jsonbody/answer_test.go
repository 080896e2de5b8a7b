package jsonbody

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMismatches(t *testing.T) {
	list := []byte(`{"type": "array", "items": {"type": "object", "additionalProperties": false,
		"required": ["Id"], "properties": {"Id": {"type": "string"}, "Amount": {"type": "integer"}}}}`)
	object := []byte(`{"type": "object", "required": ["Id"], "properties": {"Id": {"type": "string"}}}`)
	cases := []struct {
		name   string
		schema []byte
		answer string
		want   map[string][]string
		err    string
	}{
		{"a conforming list", list, `[{"Id":"a","Amount":1}]`, nil, ""},
		{"a conforming object", object, `{"Id":"a"}`, nil, ""},
		{"required missing", list, `[{"Amount":1}]`, map[string][]string{"[0].Id": {"is required"}}, ""},
		{"wrong type", list, `[{"Id":"a","Amount":"lots"}]`, map[string][]string{"[0].Amount": {"must be an integer, not string"}}, ""},
		{"extra property", list, `[{"Id":"a","Secret":"x"}]`, map[string][]string{"[0].Secret": {"is not allowed"}}, ""},
		{"wrong top level", object, `[]`, map[string][]string{rootPath: {"must be an object, not array"}}, ""},
		{"not strict JSON", object, `{"Id":"a","Id":"b"}`, nil, "duplicate member"},
		{"empty", object, ``, nil, "empty document"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Compile(map[string][]byte{"mem:///r.json": tc.schema}, "mem:///r.json", time.Now)
			must(t, err)
			got, err := s.Mismatches([]byte(tc.answer))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			must(t, err)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Mismatches = %v, want %v", got, tc.want)
			}
		})
	}
}

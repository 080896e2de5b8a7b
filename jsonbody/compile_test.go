package jsonbody

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// openAPIResources are an OpenAPI-shaped document whose request body
// refers to its components and to a second document: the shape Compile is
// for. Country's codes are many enough to be indexed; its reason, and
// Currency's exact length, are read from the second document.
func openAPIResources() map[string][]byte {
	codes := make([]string, minIndexedEnum)
	for i := range codes {
		codes[i] = fmt.Sprintf(`"%c%c"`, 'A'+i/26, 'A'+i%26)
	}
	return map[string][]byte{
		"mem:///api.json": []byte(`{
			"openapi": "3.1.0",
			"info": {"title": "Checkout", "version": "1"},
			"paths": {"/sessions": {"post": {"requestBody": {"content": {"application/json": {
				"schema": {"$ref": "#/components/schemas/Session"}}}}}}},
			"components": {"schemas": {"Session": {
				"title": "CreateSession",
				"type": "object",
				"additionalProperties": false,
				"required": ["Name", "Country"],
				"properties": {
					"Name": {"type": "string", "minLength": 1, "plainText": true},
					"Country": {"$ref": "common.json#/$defs/Country"},
					"Currency": {"$ref": "common.json#/$defs/Currency"}
				}
			}}}
		}`),
		"mem:///common.json": []byte(`{"$defs": {"Country": {"type": "string", "minLength": 2, "maxLength": 2,
			"enum": [` + strings.Join(codes, ",") + `], "x-enum-message": "must be a listed country code"},
			"Currency": {"type": "string", "minLength": 3, "maxLength": 3}}}`),
	}
}

const sessionBody = "mem:///api.json#/paths/~1sessions/post/requestBody/content/application~1json/schema"

// TestCompile compiles a request body out of an OpenAPI-shaped document
// and a document it refers to, through the same engine as Load: fast path,
// indexed enums, the gateway's vocabulary and the violation wording.
func TestCompile(t *testing.T) {
	s, err := Compile(openAPIResources(), sessionBody, time.Now)
	must(t, err)
	if s.fast == nil {
		t.Fatal("no fast checker")
	}
	if s.Title() != "" {
		t.Errorf("Title() = %q for a schema that is only a $ref", s.Title())
	}
	tests := []struct {
		name   string
		body   string
		faults map[string][]string // nil: accepted
	}{
		{"valid", `{"Name":"Ann","Country":"AP"}`, nil},
		{"code not listed", `{"Name":"Ann","Country":"ZZ"}`, map[string][]string{"Country": {"must be a listed country code"}}},
		{"currency of two letters", `{"Name":"Ann","Country":"AA","Currency":"EU"}`,
			map[string][]string{"Currency": {"must be exactly 3 characters"}}},
		{"control character", `{"Name":"A\u0007","Country":"AA"}`,
			map[string][]string{"Name": {"must not contain control or bidirectional formatting characters"}}},
		{"unknown member", `{"Name":"Ann","Country":"AA","X":1}`, map[string][]string{"X": {"is not allowed"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			agreeOn(t, s, []byte(tc.body))
			var got map[string][]string
			if rej := s.Check([]byte(tc.body)); rej != nil {
				got = rej.Fields
			}
			if !maps.EqualFunc(got, tc.faults, slices.Equal) {
				t.Fatalf("Extensions.Request = %v, want %v", got, tc.faults)
			}
		})
	}

	direct, err := Compile(openAPIResources(), "mem:///api.json#/components/schemas/Session", time.Now)
	must(t, err)
	if direct.Title() != "CreateSession" {
		t.Errorf("Title() = %q, want the component's title", direct.Title())
	}
	if _, err := Compile(map[string][]byte{"mem:///any.json": []byte(`true`)}, "mem:///any.json", time.Now); err != nil {
		t.Errorf("a boolean schema: %v", err)
	}
}

// TestCompileErrors checks that Compile refuses what Load refuses, naming
// the document at fault, and never loads a reference from outside.
func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name      string
		resources map[string][]byte
		location  string
		want      string
	}{
		{"not JSON", map[string][]byte{"mem:///a.json": []byte(`{`)}, "mem:///a.json", "parsing mem:///a.json"},
		{"remote reference", map[string][]byte{"mem:///a.json": []byte(`{"$ref":"https://example.com/s.json"}`)}, "mem:///a.json", "external references are not loaded"},
		{"reference to a missing resource", map[string][]byte{"mem:///a.json": []byte(`{"$ref":"b.json"}`)}, "mem:///a.json", "external references are not loaded"},
		{"no such location", map[string][]byte{"mem:///a.json": []byte(`{}`)}, "mem:///a.json#/nowhere", "compiling mem:///a.json#/nowhere"},
		{"vocabulary misused", map[string][]byte{"mem:///a.json": []byte(`{"dateMinimum":"soon"}`)}, "mem:///a.json", "compiling mem:///a.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.resources, tc.location, time.Now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestLongEnumKeepsItsOtherTypesOut: a long enum becomes a set lookup only
// beside "type": "string", since the lookup, as a format, passes every value
// that is not a string; without the type, the enum itself must refuse them.
func TestLongEnumKeepsItsOtherTypesOut(t *testing.T) {
	codes := make([]string, minIndexedEnum+1)
	for i := range codes {
		codes[i] = fmt.Sprintf(`"C%d"`, i)
	}
	list := strings.Join(codes, ",")
	s, err := Compile(map[string][]byte{"mem:///e.json": []byte(`{"type":"object","properties":{
		"untyped":{"enum":[` + list + `]},
		"typed":{"type":"string","enum":[` + list + `]}}}`)}, "mem:///e.json", time.Now)
	must(t, err)
	tests := []struct {
		body     string
		accepted bool
	}{
		{`{"untyped":"C3","typed":"C16"}`, true},
		{`{"untyped":"zz"}`, false},
		{`{"untyped":5}`, false},
		{`{"untyped":null}`, false},
		{`{"untyped":{}}`, false},
		{`{"untyped":["C3"]}`, false},
		{`{"typed":"zz"}`, false},
		{`{"typed":5}`, false},
		{`{"typed":null}`, false},
	}
	for _, tc := range tests {
		agreeOn(t, s, []byte(tc.body))
		if got := s.Check([]byte(tc.body)) == nil; got != tc.accepted {
			t.Errorf("%s: accepted %v, want %v", tc.body, got, tc.accepted)
		}
	}
}

package openapi

import (
	"bytes"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

const responsesDoc = `
  /things/{ID}:
    get:
      operationId: GetThing
      parameters: [{name: ID, in: path, required: true, schema: {type: string}}]
      responses:
        '200':
          content: {application/json: {schema: {$ref: '#/components/schemas/Thing'}}}
        '204': {description: gone}
        2XX:
          content: {application/json: {schema: {type: array}}}
        '400':
          content: {application/json: {schema: {type: string}}}
        default:
          content: {application/json: {schema: {type: integer}}}
  /plain:
    get:
      responses:
        '200':
          content: {text/csv: {schema: {type: string}}}
components:
  schemas:
    Thing:
      type: object
      additionalProperties: false
      required: [ID, Secret]
      properties:
        ID: {type: string, readOnly: true}
        Secret: {type: string, writeOnly: true}
        Note: {type: string, nullable: true}
`

func TestResponseFor(t *testing.T) {
	d, err := Load([]byte(doc30(responsesDoc)), "")
	if err != nil {
		t.Fatal(err)
	}
	get, plain := d.Operations[0], d.Operations[1]
	for _, tc := range []struct {
		name   string
		op     *Operation
		status int
		want   string // the key of the response resolved; "" for none
	}{
		{"exact code", get, 200, "200"},
		{"exact code without content shadows the range", get, 204, ""},
		{"range", get, 201, "2XX"},
		{"error statuses are not checked", get, 400, ""},
		{"redirects are not checked", get, 302, ""},
		{"no JSON content", plain, 200, ""},
		{"nothing declared", plain, 201, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.op.ResponseFor(tc.status)
			switch {
			case tc.want == "" && got != nil:
				t.Errorf("resolved %s, want none", got.Key)
			case tc.want != "" && (got == nil || got.Key != tc.want):
				t.Errorf("resolved %+v, want %s", got, tc.want)
			}
		})
	}
	if n := len(get.Responses()); n != 3 {
		t.Errorf("%d responses with a schema, want 200, 2XX and default", n)
	}
	if p := get.ResponseFor(200).Pointer; p != "#/paths/~1things~1{ID}/get/responses/200/content/application~1json/schema" {
		t.Errorf("pointer %s", p)
	}
}

func TestResponseSchemaDirection(t *testing.T) {
	d, err := Load([]byte(doc30(responsesDoc)), "")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(d.Operations[0].ResponseFor(200).Schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	if err := c.AddResource("r.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("r.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, answer, want string }{
		{"readOnly property belongs, writeOnly requirement dropped", `{"ID": "t1"}`, ""},
		{"readOnly requirement holds", `{}`, "/ is not valid"},
		{"writeOnly property refused", `{"ID": "t1", "Secret": "s"}`, "/Secret is not allowed"},
		{"nullable translated", `{"ID": "t1", "Note": null}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := jsonschema.UnmarshalJSON(strings.NewReader(tc.answer))
			if err != nil {
				t.Fatal(err)
			}
			got := leafLocations(s.Validate(v))
			if tc.want == "" && len(got) > 0 || tc.want != "" && (len(got) != 1 || got[0] != tc.want) {
				t.Errorf("violations %v, want %q", got, tc.want)
			}
		})
	}
}

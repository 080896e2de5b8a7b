package openapi

import (
	"os"
	"strings"
	"testing"
)

func loadExample(t testing.TB) *Document {
	t.Helper()
	data, err := os.ReadFile("../examples/openapi/checkout-api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Load(data, "")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLoadExample(t *testing.T) {
	d := loadExample(t)
	if d.BasePath != "/v1" {
		t.Errorf("base path %q, want /v1 from servers[0].url", d.BasePath)
	}
	actions := map[string]*Operation{}
	for _, o := range d.Operations {
		actions[o.Action] = o
	}
	for _, want := range []string{"CreateManagedSession", "CreatePayout", "GetTransactions", "GetCustomer", "GetChannelsSell", "GetChannel"} {
		if actions[want] == nil {
			t.Errorf("operation %s missing", want)
		}
	}
	cms := actions["CreateManagedSession"]
	if cms.Body == nil || !cms.Body.Required || len(cms.Body.Schema) == 0 {
		t.Fatalf("CreateManagedSession body = %+v", cms.Body)
	}
	if actions["GetTransactions"].Body != nil {
		t.Error("GetTransactions has a body")
	}
}

// doc30 is a minimal OpenAPI 3.0 document around one set of paths.
func doc30(paths string) string {
	return "openapi: 3.0.3\ninfo: {title: t, version: '1'}\nservers: [{url: 'https://api.example.com/v2/'}]\npaths:\n" + paths
}

func TestLoadRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"external ref names operation and pointer", doc30(`
  /a:
    post:
      operationId: MakeA
      requestBody:
        content:
          application/json:
            schema: {$ref: 'other.yaml#/Thing'}
      responses: {'200': {description: ok}}
`), `operation MakeA: #/paths/~1a/post/requestBody/content/application~1json/schema/$ref "other.yaml#/Thing" is external`},
		{"external ref on an operation without id", doc30(`
  /a/{id}:
    get:
      parameters: [{$ref: 'https://example.com/p.yaml'}]
      responses: {'200': {description: ok}}
`), `operation GET /a/{id}: #/paths/~1a~1{id}/get/parameters/0/$ref`},
		{"version 2", "swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n", "not supported"},
		{"template variable without parameter", doc30(`
  /a/{id}:
    get:
      operationId: GetA
      responses: {'200': {description: ok}}
`), "operation GetA (#/paths/~1a~1{id}/get): path template variable {id} has no path parameter"},
		{"body that is not JSON", doc30(`
  /a:
    post:
      operationId: Upload
      requestBody:
        content:
          multipart/form-data: {schema: {type: object}}
      responses: {'200': {description: ok}}
`), "operation Upload (#/paths/~1a/post/requestBody): the request body declares multipart/form-data"},
		{"two templates for the same requests", doc30(`
  /a/{x}:
    get:
      operationId: One
      parameters: [{name: x, in: path, required: true, schema: {type: string}}]
      responses: {'200': {description: ok}}
  /a/{y}:
    get:
      operationId: Two
      parameters: [{name: y, in: path, required: true, schema: {type: string}}]
      responses: {'200': {description: ok}}
`), "operation Two (#/paths/~1a~1{y}/get): path /a/{y} matches the same requests as operation One"},
		{"object parameter", doc30(`
  /a:
    get:
      operationId: GetA
      parameters: [{name: f, in: query, schema: {type: object}}]
      responses: {'200': {description: ok}}
`), "operation GetA (#/paths/~1a/get/parameters): parameter f in query: object parameters are not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(tc.doc), "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestBasePath(t *testing.T) {
	paths := `
  /a:
    get:
      responses: {'200': {description: ok}}
`
	for _, tc := range []struct{ name, doc, configured, want string }{
		{"from servers, trailing slash dropped", doc30(paths), "", "/v2"},
		{"configured wins", doc30(paths), "/api/", "/api"},
		{"no servers", "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:" + paths, "", ""},
		{"relative server url", "openapi: 3.1.0\ninfo: {title: t, version: '1'}\nservers: [{url: /v9}]\npaths:" + paths, "", "/v9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Load([]byte(tc.doc), tc.configured)
			if err != nil {
				t.Fatal(err)
			}
			if d.BasePath != tc.want {
				t.Errorf("base path %q, want %q", d.BasePath, tc.want)
			}
			if d.Operations[0].Action != "GET /a" {
				t.Errorf("action %q, want GET /a", d.Operations[0].Action)
			}
		})
	}
}

func TestLoadJSON(t *testing.T) {
	doc := `{"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
	 "paths": {"/a": {"post": {"operationId": "A", "requestBody": {"required": true, "content": {"application/json":
	 {"schema": {"type": ["object", "null"], "properties": {"n": {"type": "integer", "exclusiveMinimum": 0}}}}}},
	 "responses": {"200": {"description": "ok"}}}}}}`
	d, err := Load([]byte(doc), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(d.Operations[0].Body.Schema); !strings.Contains(got, `"exclusiveMinimum":0`) {
		t.Errorf("3.1 schema not kept as written: %s", got)
	}
}

package openapi

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestRoute(t *testing.T) {
	d := loadExample(t)
	for _, tc := range []struct {
		name, method, path string
		want               string // the operation's Action, or an error
	}{
		{"literal path", "POST", "/v1/checkout/manage", "CreateManagedSession"},
		{"template", "GET", "/v1/customers/c-1", "GetCustomer"},
		{"literal wins over template", "GET", "/v1/channels/sell", "GetChannelsSell"},
		{"template beside a literal", "GET", "/v1/channels/0b7e4f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b", "GetChannel"},
		{"without base path", "POST", "/checkout/manage", "404"},
		{"base path prefix of a segment", "POST", "/v1x/checkout/manage", "404"},
		{"unknown path", "GET", "/v1/unknown", "404"},
		{"trailing slash", "GET", "/v1/transactions/", "404"},
		{"empty template segment", "GET", "/v1/customers/", "404"},
		{"extra segment", "GET", "/v1/customers/c-1/x", "404"},
		{"known path, other method", "DELETE", "/v1/customers/c-1", "405 GET"},
		{"literal path, other method", "GET", "/v1/checkout/manage", "405 POST"},
		{"method case matters", "post", "/v1/checkout/manage", "405 POST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, _, err := d.Route(tc.method, tc.path)
			var got string
			var mna *MethodNotAllowedError
			switch {
			case errors.Is(err, ErrNotFound):
				got = "404"
			case errors.As(err, &mna):
				got = "405 " + mna.Allow
			case err != nil:
				got = err.Error()
			default:
				got = op.Action
			}
			if got != tc.want {
				t.Errorf("Route(%s %s) = %s, want %s", tc.method, tc.path, got, tc.want)
			}
		})
	}
}

func TestRouteAllowListsEveryMethod(t *testing.T) {
	d, err := Load([]byte(doc30(`
  /a/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    put: {responses: {'200': {description: ok}}}
    get: {responses: {'200': {description: ok}}}
    delete: {responses: {'200': {description: ok}}}
  /a/{id}/b:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    get: {responses: {'200': {description: ok}}}
  /a/x/c:
    get: {responses: {'200': {description: ok}}}
`)), "")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = d.Route("POST", "/v2/a/1")
	var mna *MethodNotAllowedError
	if !errors.As(err, &mna) || mna.Allow != "DELETE, GET, PUT" {
		t.Errorf("err %v, want Allow DELETE, GET, PUT", err)
	}
	// The literal x leads only to /a/x/c: /a/x/b falls back to the template.
	op, segs, err := d.Route("GET", "/v2/a/x/b")
	if err != nil || op.Template != "/a/{id}/b" || segs[1] != "x" {
		t.Errorf("GET /v2/a/x/b = %v %v %v, want /a/{id}/b with id x", op, segs, err)
	}
}

// syntheticDocument has n operations over n/5 resources of five shapes.
func syntheticDocument(n int) []byte {
	var b strings.Builder
	b.WriteString("openapi: 3.0.3\ninfo: {title: t, version: '1'}\nservers: [{url: /v1}]\npaths:\n")
	idParam := "[{name: id, in: path, required: true, schema: {type: string}}]"
	for i := 0; i < n/5; i++ {
		fmt.Fprintf(&b, "  /r%d:\n    get: {operationId: list%d, responses: {'200': {description: ok}}}\n", i, i)
		fmt.Fprintf(&b, "    post: {operationId: create%d, responses: {'200': {description: ok}}}\n", i)
		fmt.Fprintf(&b, "  /r%d/{id}:\n    parameters: %s\n    get: {operationId: get%d, responses: {'200': {description: ok}}}\n", i, idParam, i)
		fmt.Fprintf(&b, "    delete: {operationId: delete%d, responses: {'200': {description: ok}}}\n", i)
		fmt.Fprintf(&b, "  /r%d/{id}/items:\n    parameters: %s\n    get: {operationId: items%d, responses: {'200': {description: ok}}}\n", i, idParam, i)
	}
	return []byte(b.String())
}

// BenchmarkRoute shows the lookup does not grow with the document: compare
// ns/op at 25 and 2,500 operations.
func BenchmarkRoute(b *testing.B) {
	for _, n := range []int{25, 2500} {
		d, err := Load(syntheticDocument(n), "")
		if err != nil {
			b.Fatal(err)
		}
		if len(d.Operations) != n {
			b.Fatalf("%d operations, want %d", len(d.Operations), n)
		}
		last := fmt.Sprintf("/v1/r%d/abc/items", n/5-1)
		b.Run(fmt.Sprintf("operations=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, _, err := d.Route("GET", last); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

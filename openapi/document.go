// Package openapi reads an OpenAPI 3.0.x or 3.1.x document into what the
// gateway guards: its operations, a router from method and path to them,
// each operation's parameters checked from their text, and each request
// body's schema translated to JSON Schema 2020-12 for the body engine. It
// knows nothing of Caddy.
package openapi

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi/datamodel"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// Document is a loaded OpenAPI document, ready to route requests.
type Document struct {
	Title      string
	BasePath   string
	Operations []*Operation
	router     *router
	dialect30  bool
}

// Operation is one method on one path template.
type Operation struct {
	Index    int    // position in Document.Operations
	Method   string // upper case
	Template string // as the document writes it, without the base path
	// Action names the operation in envelopes, logs and metrics: its
	// operationId, or METHOD /template when it has none.
	Action  string
	Pointer string // JSON pointer of the operation in the document
	Body    *Body  // nil when the operation declares no request body
	params  []*parameter
	query   map[string]*parameter
	// responses by the key they are resolved by ("200", "2XX", "default");
	// nil for one declared without a JSON schema.
	responses    map[string]*Response
	responseKeys []string
}

// Body is an operation's request body.
type Body struct {
	Required bool
	// Schema is the application/json schema as a JSON Schema 2020-12
	// document, its references inlined under $defs. Nil when the media type
	// declares no schema: any JSON is accepted.
	Schema  []byte
	Pointer string // JSON pointer of the schema in the document
}

// jsonMediaType is the one request media type the gateway checks.
const jsonMediaType = "application/json"

// Load reads a document in JSON or YAML. basePath, when not empty, replaces
// the path of the first servers[].url as the prefix every template is
// matched under.
func Load(data []byte, basePath string) (*Document, error) {
	doc, err := libopenapi.NewDocumentWithConfiguration(data, &datamodel.DocumentConfiguration{})
	if err != nil {
		return nil, fmt.Errorf("reading the OpenAPI document: %w", err)
	}
	version := doc.GetVersion()
	if !strings.HasPrefix(version, "3.0.") && !strings.HasPrefix(version, "3.1.") {
		return nil, fmt.Errorf("OpenAPI version %q is not supported: use 3.0.x or 3.1.x", version)
	}
	var root any
	if err := doc.GetSpecInfo().RootNode.Decode(&root); err != nil {
		return nil, fmt.Errorf("decoding the OpenAPI document: %w", err)
	}
	root = normalise(root)
	if err := refuseExternalRefs(root); err != nil {
		return nil, err
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("resolving the OpenAPI document: %w", err)
	}
	d := &Document{dialect30: strings.HasPrefix(version, "3.0."), router: newRouter()}
	if model.Model.Info != nil {
		d.Title = model.Model.Info.Title
	}
	if d.BasePath, err = chooseBasePath(basePath, model.Model.Servers); err != nil {
		return nil, err
	}
	t := &translator{root: root, dialect30: d.dialect30}
	if model.Model.Paths == nil {
		return nil, errors.New("the OpenAPI document has no paths")
	}
	for template, item := range model.Model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			o, err := d.operation(t, template, strings.ToUpper(method), item, op)
			if err != nil {
				return nil, err
			}
			if err := d.router.add(o); err != nil {
				return nil, fmt.Errorf("operation %s (%s): %w", o.Action, o.Pointer, err)
			}
			o.Index = len(d.Operations)
			d.Operations = append(d.Operations, o)
		}
	}
	if len(d.Operations) == 0 {
		return nil, errors.New("the OpenAPI document declares no operations")
	}
	return d, nil
}

func (d *Document) operation(t *translator, template, method string, item *v3.PathItem, op *v3.Operation) (*Operation, error) {
	o := &Operation{
		Method:   method,
		Template: template,
		Action:   op.OperationId,
		Pointer:  "#/paths/" + escapePointer(template) + "/" + strings.ToLower(method),
	}
	if o.Action == "" {
		o.Action = method + " " + template
	}
	fail := func(at string, err error) error {
		return fmt.Errorf("operation %s (%s): %w", o.Action, at, err)
	}
	params, err := t.parameters(template, item.Parameters, op.Parameters)
	if err != nil {
		return nil, fail(o.Pointer+"/parameters", err)
	}
	o.params = params
	o.query = make(map[string]*parameter)
	for _, p := range params {
		if p.in == "query" {
			o.query[p.name] = p
		}
	}
	if err := checkPathParameters(template, params); err != nil {
		return nil, fail(o.Pointer, err)
	}
	if op.RequestBody != nil {
		at := o.Pointer + "/requestBody"
		var types []string
		if op.RequestBody.Content != nil {
			for mediaType := range op.RequestBody.Content.KeysFromOldest() {
				types = append(types, mediaType)
			}
		}
		mt, ok := op.RequestBody.Content.Get(jsonMediaType)
		if !ok {
			return nil, fail(at, fmt.Errorf("the request body declares %s; the gateway checks only %s", strings.Join(types, ", "), jsonMediaType))
		}
		o.Body = &Body{Required: op.RequestBody.Required != nil && *op.RequestBody.Required, Pointer: at + "/content/application~1json/schema"}
		if mt.Schema != nil {
			if o.Body.Schema, err = t.document(mt.Schema); err != nil {
				return nil, fail(o.Body.Pointer, err)
			}
		}
	}
	if err := o.loadResponses(t, op); err != nil {
		return nil, err
	}
	return o, nil
}

// checkPathParameters makes every template variable a declared path
// parameter: one the document forgot would match anything unchecked.
func checkPathParameters(template string, params []*parameter) error {
	for _, seg := range strings.Split(strings.Trim(template, "/"), "/") {
		name, ok := templateVariable(seg)
		if !ok {
			continue
		}
		if !slices.ContainsFunc(params, func(p *parameter) bool { return p.in == "path" && p.name == name }) {
			return fmt.Errorf("path template variable {%s} has no path parameter", name)
		}
	}
	return nil
}

// chooseBasePath is the configured base path, or else the path of the
// first server URL, without a trailing slash.
func chooseBasePath(configured string, servers []*v3.Server) (string, error) {
	if configured == "" && len(servers) > 0 {
		u, err := url.Parse(servers[0].URL)
		if err != nil {
			return "", fmt.Errorf("servers[0].url: %w", err)
		}
		configured = u.Path
	}
	configured = strings.TrimSuffix(configured, "/")
	if configured != "" && (!strings.HasPrefix(configured, "/") || strings.ContainsAny(configured, "{}%")) {
		return "", fmt.Errorf("base path %q must be a plain absolute path", configured)
	}
	return configured, nil
}

// refuseExternalRefs keeps the document self-contained: an external
// reference would read other files or the network at start-up.
func refuseExternalRefs(root any) error {
	var found error
	var walk func(v any, pointer string)
	walk = func(v any, pointer string) {
		switch n := v.(type) {
		case map[string]any:
			if ref, ok := n["$ref"].(string); ok && !strings.HasPrefix(ref, "#") && found == nil {
				found = fmt.Errorf("%s: %s %q is external; only references inside the document (#/...) are followed", operationAt(root, pointer), pointer+"/$ref", ref)
			}
			for k, item := range n {
				walk(item, pointer+"/"+escapePointer(k))
			}
		case []any:
			for i, item := range n {
				walk(item, fmt.Sprintf("%s/%d", pointer, i))
			}
		}
	}
	walk(root, "#")
	return found
}

// operationAt names the operation a pointer lies in, for config errors.
func operationAt(root any, pointer string) string {
	parts := strings.Split(pointer, "/")
	if len(parts) < 4 || parts[1] != "paths" {
		return "the document"
	}
	template, method := unescapePointer(parts[2]), parts[3]
	if op, ok := lookup(root, "#/paths/"+parts[2]+"/"+method).(map[string]any); ok {
		if id, ok := op["operationId"].(string); ok && id != "" {
			return "operation " + id
		}
	}
	return "operation " + strings.ToUpper(method) + " " + template
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func unescapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
}

// lookup follows a local JSON pointer (#/a/b) in the raw document.
func lookup(root any, pointer string) any {
	v := root
	rest, ok := strings.CutPrefix(pointer, "#")
	if !ok {
		return nil
	}
	if rest == "" {
		return v
	}
	for _, part := range strings.Split(strings.TrimPrefix(rest, "/"), "/") {
		part, _ = url.PathUnescape(part)
		switch n := v.(type) {
		case map[string]any:
			v = n[unescapePointer(part)]
		case []any:
			var i int
			if _, err := fmt.Sscan(part, &i); err != nil || i < 0 || i >= len(n) {
				return nil
			}
			v = n[i]
		default:
			return nil
		}
	}
	return v
}

// normalise makes a decoded YAML tree a JSON one: maps keyed by strings
// (response codes are often written as bare numbers).
func normalise(v any) any {
	switch n := v.(type) {
	case map[string]any:
		for k, item := range n {
			n[k] = normalise(item)
		}
		return n
	case map[any]any:
		out := make(map[string]any, len(n))
		for k, item := range n {
			out[fmt.Sprint(k)] = normalise(item)
		}
		return out
	case []any:
		for i, item := range n {
			n[i] = normalise(item)
		}
	}
	return v
}

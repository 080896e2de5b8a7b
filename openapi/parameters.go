package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/checkoutgw/checkoutgw/jsonbody"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// parameter is one path, query or header parameter of an operation.
type parameter struct {
	name           string
	in             string
	required       bool
	types          []string // the declared types, tried in order on the text
	array          bool
	items          []string // the items' types, for an array
	commaSeparated bool     // an array's items in one value
	segment        int      // for a path parameter, its segment in the template
	schema         *jsonschema.Schema
	fast           *fastParam // nil when only the validator can decide
}

// Limits on what one answer lists, as for body violations.
const (
	maxListedParameters = 100
	maxNameShown        = 64
)

// parameters merges the path item's parameters with the operation's, the
// operation's winning for the same name and location, and compiles their
// schemas. Cookie parameters are not checked.
func (t *translator) parameters(templatePath string, pathLevel, opLevel []*v3.Parameter) ([]*parameter, error) {
	merged := map[string]*v3.Parameter{}
	var order []string
	for _, list := range [][]*v3.Parameter{pathLevel, opLevel} {
		for _, p := range list {
			key := p.In + "\x00" + p.Name
			if p.In == "header" {
				key = p.In + "\x00" + http.CanonicalHeaderKey(p.Name)
			}
			if _, seen := merged[key]; !seen {
				order = append(order, key)
			}
			merged[key] = p
		}
	}
	template := segments(templatePath)
	var out []*parameter
	for _, key := range order {
		p := merged[key]
		if p.In == "cookie" || (p.In == "header" && ignoredHeader(p.Name)) {
			continue
		}
		q, err := t.parameter(p, template)
		if err != nil {
			return nil, fmt.Errorf("parameter %s in %s: %w", p.Name, p.In, err)
		}
		out = append(out, q)
	}
	return out, nil
}

// ignoredHeader: OpenAPI ignores header parameters named after headers
// that HTTP itself defines.
func ignoredHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Accept", "Content-Type", "Authorization":
		return true
	}
	return false
}

func (t *translator) parameter(p *v3.Parameter, template []string) (*parameter, error) {
	q := &parameter{name: p.Name, in: p.In, required: p.Required != nil && *p.Required, segment: -1}
	switch p.In {
	case "path":
		q.required = true
		for i, seg := range template {
			if name, ok := templateVariable(seg); ok && name == p.Name {
				q.segment = i
			}
		}
		if q.segment < 0 {
			return nil, errors.New("the path template has no such variable")
		}
	case "query", "header":
	default:
		return nil, fmt.Errorf("location %q is not one of path, query, header, cookie", p.In)
	}
	if p.Schema == nil {
		return nil, errors.New("only parameters with a schema are checked; this one has none (content)")
	}
	if p.Style != "" && p.Style != "form" && p.Style != "simple" {
		return nil, fmt.Errorf("style %q is not supported (form and simple are)", p.Style)
	}
	// An array comes as a repeated query name only in form style exploded,
	// the query's default; otherwise as one comma-separated value.
	exploded := p.In == "query" && p.Style != "simple"
	if p.Explode != nil {
		exploded = exploded && *p.Explode
	}
	q.commaSeparated = !exploded
	doc, err := t.schemaDocument(p.Schema)
	if err != nil {
		return nil, err
	}
	q.types = typesOf(t.resolve(doc))
	if len(q.types) == 1 && q.types[0] == "object" {
		return nil, errors.New("object parameters are not supported")
	}
	if q.types[0] == "array" {
		q.array = true
		items, _ := t.resolve(doc)["items"].(map[string]any)
		q.items = typesOf(t.resolveIn(doc, items))
	}
	if q.schema, err = compileParameterSchema(doc); err != nil {
		return nil, err
	}
	if !q.array {
		q.fast = newFastParam(t.referencedAlone(doc))
	}
	return q, nil
}

// referencedAlone is the schema a document only references, or the
// document itself when it says more than the reference.
func (t *translator) referencedAlone(doc map[string]any) map[string]any {
	for k := range doc {
		if k != "$ref" && k != "$schema" && k != "$defs" {
			return doc
		}
	}
	return t.resolve(doc)
}

// resolve follows a top-level $ref into $defs, to read the declared type.
func (t *translator) resolve(doc map[string]any) map[string]any {
	return t.resolveIn(doc, doc)
}

func (t *translator) resolveIn(doc, s map[string]any) map[string]any {
	for range 16 {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		key, _ := strings.CutPrefix(ref, defsPrefix)
		defs, _ := doc["$defs"].(map[string]any)
		next, ok := defs[unescapePointer(key)].(map[string]any)
		if !ok {
			return s
		}
		s = next
	}
	return s
}

// typesOf lists the declared types, string when none is declared; null is
// left out, since text never converts to it.
func typesOf(s map[string]any) []string {
	var types []string
	switch typ := s["type"].(type) {
	case string:
		types = []string{typ}
	case []any:
		for _, item := range typ {
			if name, ok := item.(string); ok && name != "null" {
				types = append(types, name)
			}
		}
	}
	if len(types) == 0 {
		types = []string{"string"}
	}
	return types
}

func compileParameterSchema(doc map[string]any) (*jsonschema.Schema, error) {
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encoding the schema: %w", err)
	}
	value, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decoding the schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(noLoader{})
	if err := c.AddResource("parameter.json", value); err != nil {
		return nil, err
	}
	return c.Compile("parameter.json")
}

// noLoader keeps compiling inside the document.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("%s: external references are not loaded", url)
}

// CheckParameters checks the request's path, query and header parameters
// against the operation's, each converted from its text to the declared
// type first. It returns every violation, by parameter name; a query
// parameter the operation does not declare is one. Nothing is changed in
// the request: defaults are not filled in.
func (o *Operation) CheckParameters(segs []string, query url.Values, header http.Header) map[string][]string {
	var fields map[string][]string
	add := func(name, why string) {
		if fields == nil {
			fields = map[string][]string{}
		}
		if len(fields) < maxListedParameters || fields[name] != nil {
			fields[name] = append(fields[name], why)
		}
	}
	for _, p := range o.params {
		var texts []string
		switch p.in {
		case "path":
			texts = []string{segs[p.segment]}
		case "query":
			texts = query[p.name]
		case "header":
			texts = header.Values(p.name)
		}
		if len(texts) == 0 {
			if p.required {
				add(p.name, "is required")
			}
			continue
		}
		value, why := p.convert(texts)
		if why == "" {
			why = p.validate(value)
		}
		if why != "" {
			add(p.name, why)
		}
	}
	for name := range query {
		if _, declared := o.query[name]; !declared {
			add(clipName(name), "is not a parameter of this operation")
		}
	}
	return fields
}

// convert reads the parameter's text as its declared type.
func (p *parameter) convert(texts []string) (any, string) {
	if !p.array {
		if len(texts) > 1 {
			return nil, "must be given once"
		}
		return convertText(texts[0], p.types)
	}
	if p.commaSeparated {
		if len(texts) > 1 {
			return nil, "must be given once, its items separated by commas"
		}
		texts = strings.Split(texts[0], ",")
	}
	items := make([]any, len(texts))
	for i, text := range texts {
		v, why := convertText(text, p.items)
		if why != "" {
			return nil, "every item " + why
		}
		items[i] = v
	}
	return items, ""
}

// convertText tries the declared types in order.
func convertText(text string, types []string) (any, string) {
	for _, typ := range types {
		switch typ {
		case "string":
			return text, ""
		case "integer":
			if _, err := strconv.ParseInt(text, 10, 64); err == nil {
				return json.Number(text), ""
			}
		case "number":
			// Only decimal notation: ParseFloat also reads hex, NaN and Inf.
			if _, err := strconv.ParseFloat(text, 64); err == nil && !strings.ContainsAny(text, "xXpP_") && !isNaNOrInf(text) {
				return json.Number(text), ""
			}
		case "boolean":
			if text == "true" || text == "false" {
				return text == "true", ""
			}
		}
	}
	return nil, "must be " + jsonbody.Articled(types)
}

func isNaNOrInf(text string) bool {
	t := strings.ToLower(strings.TrimLeft(text, "+-"))
	return t == "nan" || strings.HasPrefix(t, "inf")
}

func (p *parameter) validate(value any) string {
	if p.fast != nil && p.fast.accepts(value) {
		return ""
	}
	err := p.schema.Validate(value)
	if err == nil {
		return ""
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return "could not be validated"
	}
	return reasonFor(verr)
}

func clipName(name string) string {
	if len(name) <= maxNameShown {
		return name
	}
	return strings.ToValidUTF8(name[:maxNameShown], "") + "..."
}

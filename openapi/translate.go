package openapi

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/pb33f/libopenapi/datamodel/high/base"
)

// translator turns the document's schemas into JSON Schema 2020-12, as
// the document means them in a request or, for a response translator, in
// a response: the OpenAPI 3.0 dialect (nullable, boolean exclusive bounds)
// rewritten, properties of the other direction (readOnly in requests,
// writeOnly in responses) refused, a discriminator's mapping made the
// branch that is checked, annotations that are not JSON Schema (x-*,
// example) left out.
type translator struct {
	root      any
	dialect30 bool
	response  bool
}

// hiddenKeyword marks a property that may not appear in the direction
// translated: the server sets readOnly ones, only clients send writeOnly
// ones.
func (t *translator) hiddenKeyword() string {
	if t.response {
		return "writeOnly"
	}
	return "readOnly"
}

// defsPrefix is where referenced schemas are inlined in a translated
// document: #/components/schemas/Card becomes #/$defs/components~1schemas~1Card.
const defsPrefix = "#/$defs/"

// document is a self-contained JSON Schema document for one schema.
func (t *translator) document(sp *base.SchemaProxy) ([]byte, error) {
	doc, err := t.schemaDocument(sp)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encoding the translated schema: %w", err)
	}
	return data, nil
}

// schemaDocument translates a schema and every schema it references,
// inlined under $defs.
func (t *translator) schemaDocument(sp *base.SchemaProxy) (map[string]any, error) {
	raw, err := rawSchema(sp)
	if err != nil {
		return nil, err
	}
	top, ok := t.schema(raw).(map[string]any)
	if !ok {
		top = map[string]any{"allOf": []any{t.schema(raw)}}
	}
	defs := map[string]any{}
	pending := refsIn(top, nil)
	for len(pending) > 0 {
		key := pending[0]
		pending = pending[1:]
		if _, done := defs[key]; done {
			continue
		}
		target := lookup(t.root, "#/"+key)
		if target == nil {
			return nil, fmt.Errorf("reference #/%s points at nothing", key)
		}
		translated := t.schema(target)
		defs[key] = translated
		pending = refsIn(translated, pending)
	}
	top["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	if len(defs) > 0 {
		top["$defs"] = defs
	}
	return top, nil
}

// rawSchema is the schema as the document writes it; a reference stays a
// reference, so that recursive schemas stay finite.
func rawSchema(sp *base.SchemaProxy) (any, error) {
	if sp.IsReference() {
		return map[string]any{"$ref": sp.GetReference()}, nil
	}
	node := sp.GoLow().GetValueNode()
	if node == nil {
		return nil, fmt.Errorf("the schema could not be read")
	}
	var v any
	if err := node.Decode(&v); err != nil {
		return nil, fmt.Errorf("decoding the schema: %w", err)
	}
	return normalise(v), nil
}

// refsIn appends the $defs keys that v references.
func refsIn(v any, keys []string) []string {
	switch n := v.(type) {
	case map[string]any:
		if ref, ok := n["$ref"].(string); ok {
			if key, ok := strings.CutPrefix(ref, defsPrefix); ok {
				keys = append(keys, unescapePointer(key))
			}
		}
		for _, item := range n {
			keys = refsIn(item, keys)
		}
	case []any:
		for _, item := range n {
			keys = refsIn(item, keys)
		}
	}
	return keys
}

// Keywords whose value is a schema, a list of schemas, or a map of them.
var (
	schemaKeywords     = []string{"additionalProperties", "items", "not", "if", "then", "else", "contains", "propertyNames", "unevaluatedProperties", "unevaluatedItems", "additionalItems"}
	schemaListKeywords = []string{"allOf", "anyOf", "oneOf", "prefixItems"}
	schemaMapKeywords  = []string{"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)

// schema translates one schema object and, structurally, those inside it.
func (t *translator) schema(v any) any {
	n, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if ref, ok := n["$ref"].(string); ok && t.dialect30 {
		// OpenAPI 3.0: siblings of $ref are ignored.
		return map[string]any{"$ref": t.ref(ref)}
	}
	if hidden, _ := n[t.hiddenKeyword()].(bool); hidden {
		return false
	}
	out := make(map[string]any, len(n))
	for k, item := range n {
		switch {
		case strings.HasPrefix(k, "x-"), k == "example", k == "discriminator", k == "xml", k == "externalDocs":
		case k == "$ref":
			out[k] = t.ref(item.(string))
		case slices.Contains(schemaKeywords, k):
			out[k] = t.schema(item)
		case slices.Contains(schemaListKeywords, k):
			out[k] = t.schemaList(item)
		case slices.Contains(schemaMapKeywords, k):
			out[k] = t.schemaMap(item)
		default:
			out[k] = item
		}
	}
	if t.dialect30 {
		nullable(out)
		exclusiveBound(out, "exclusiveMinimum", "minimum")
		exclusiveBound(out, "exclusiveMaximum", "maximum")
	}
	t.dropHiddenRequired(n, out)
	t.discriminate(n, out)
	return out
}

func (t *translator) schemaList(v any) any {
	list, ok := v.([]any)
	if !ok {
		return v
	}
	out := make([]any, len(list))
	for i, item := range list {
		out[i] = t.schema(item)
	}
	return out
}

func (t *translator) schemaMap(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := make(map[string]any, len(m))
	for k, item := range m {
		out[k] = t.schema(item)
	}
	return out
}

// ref points a document reference at its inlined copy.
func (t *translator) ref(ref string) string {
	key, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return ref
	}
	return defsPrefix + escapePointer(key)
}

// nullable is OpenAPI 3.0's way to admit null: the 2020-12 way is null
// among the types (and among the enum values, which would refuse it).
func nullable(s map[string]any) {
	isNullable, _ := s["nullable"].(bool)
	delete(s, "nullable")
	typ, hasType := s["type"].(string)
	if !isNullable || !hasType {
		return
	}
	s["type"] = []any{typ, "null"}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, nil) {
		s["enum"] = append(slices.Clone(enum), nil)
	}
}

// exclusiveBound rewrites OpenAPI 3.0's boolean exclusive bound into
// 2020-12's numeric one.
func exclusiveBound(s map[string]any, exclusive, inclusive string) {
	flag, isBool := s[exclusive].(bool)
	if !isBool {
		return
	}
	delete(s, exclusive)
	if bound, ok := s[inclusive]; ok && flag {
		s[exclusive] = bound
		delete(s, inclusive)
	}
}

// dropHiddenRequired takes the properties hidden in this direction out of
// required: OpenAPI applies a readOnly property's requirement to responses
// only, and a writeOnly one's to requests only.
func (t *translator) dropHiddenRequired(in, out map[string]any) {
	required, ok := in["required"].([]any)
	props, _ := in["properties"].(map[string]any)
	if !ok || props == nil {
		return
	}
	kept := make([]any, 0, len(required))
	for _, name := range required {
		s, _ := name.(string)
		if !t.isHidden(props[s]) {
			kept = append(kept, name)
		}
	}
	out["required"] = kept
}

func (t *translator) isHidden(v any) bool {
	for range 16 { // bounded: references may form a cycle
		n, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if hidden, _ := n[t.hiddenKeyword()].(bool); hidden {
			return true
		}
		ref, ok := n["$ref"].(string)
		if !ok {
			return false
		}
		v = lookup(t.root, ref)
	}
	return false
}

// discriminate makes a discriminator with oneOf or anyOf of references a
// choice: the property's value picks the one branch the body is checked
// against, so violations are reported against that branch and not as
// "matches none of oneOf". The value must be one the mapping (or a
// referenced schema's name) knows.
func (t *translator) discriminate(in, out map[string]any) {
	d, ok := in["discriminator"].(map[string]any)
	if !ok {
		return
	}
	property, _ := d["propertyName"].(string)
	keyword := "oneOf"
	branches, ok := in[keyword].([]any)
	if !ok {
		keyword = "anyOf"
		branches, ok = in[keyword].([]any)
	}
	if property == "" || !ok {
		return
	}
	targets := map[string]string{} // discriminator value -> reference
	mapping, _ := d["mapping"].(map[string]any)
	for value, target := range mapping {
		ref, _ := target.(string)
		if !strings.HasPrefix(ref, "#") {
			ref = "#/components/schemas/" + ref
		}
		targets[value] = ref
	}
	for _, b := range branches {
		branch, _ := b.(map[string]any)
		ref, isRef := branch["$ref"].(string)
		if !isRef {
			return // an inline branch has no name to be picked by
		}
		if !slices.Contains(mapValues(targets), ref) {
			targets[ref[strings.LastIndex(ref, "/")+1:]] = ref
		}
	}
	keys := sortedKeys(targets)
	values := make([]any, len(keys))
	for i, k := range keys {
		values[i] = k
	}
	choice := []any{map[string]any{"required": []any{property}, "properties": map[string]any{property: map[string]any{"enum": values}}}}
	for _, value := range keys {
		choice = append(choice, map[string]any{
			"if":   map[string]any{"required": []any{property}, "properties": map[string]any{property: map[string]any{"const": value}}},
			"then": map[string]any{"$ref": t.ref(targets[value])},
		})
	}
	delete(out, keyword)
	allOf, _ := out["allOf"].([]any)
	out["allOf"] = append(allOf, choice...)
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

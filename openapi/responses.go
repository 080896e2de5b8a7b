package openapi

import (
	"fmt"
	"strconv"
	"strings"

	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// Response is a success answer an operation declares with an
// application/json schema, the schema translated as the document means it
// in a response: readOnly properties belong, writeOnly ones may not appear.
type Response struct {
	Key     string // how the document keys it: "200", "2XX" or "default"
	Schema  []byte // JSON Schema 2020-12, its references inlined under $defs
	Pointer string // JSON pointer of the schema in the document
}

// Responses are the operation's success answers with a JSON schema, in
// document order, for compiling at start-up.
func (o *Operation) Responses() []*Response {
	var out []*Response
	for _, key := range o.responseKeys {
		if r := o.responses[key]; r != nil {
			out = append(out, r)
		}
	}
	return out
}

// ResponseFor is the JSON answer the operation declares for a 2xx status,
// resolved as OpenAPI does (the exact code, then 2XX, then default), or nil
// when the one that applies declares no application/json schema.
func (o *Operation) ResponseFor(status int) *Response {
	if status < 200 || status > 299 {
		return nil
	}
	for _, key := range []string{strconv.Itoa(status), "2XX", "default"} {
		if r, declared := o.responses[key]; declared {
			return r
		}
	}
	return nil
}

// loadResponses translates the 2xx, 2XX and default answers' JSON schemas.
// An answer declared without one is kept as nil, so that it still shadows
// the range and default answers.
func (o *Operation) loadResponses(t *translator, op *v3.Operation) error {
	o.responses = map[string]*Response{}
	if op.Responses == nil {
		return nil
	}
	rt := *t
	rt.response = true
	add := func(documentKey, key string, resp *v3.Response) error {
		o.responseKeys = append(o.responseKeys, key)
		o.responses[key] = nil
		if resp == nil || resp.Content == nil {
			return nil
		}
		mt, ok := resp.Content.Get(jsonMediaType)
		if !ok || mt.Schema == nil {
			return nil
		}
		r := &Response{Key: key, Pointer: o.Pointer + "/responses/" + escapePointer(documentKey) + "/content/application~1json/schema"}
		schema, err := rt.document(mt.Schema)
		if err != nil {
			return fmt.Errorf("operation %s (%s): %w", o.Action, r.Pointer, err)
		}
		r.Schema = schema
		o.responses[key] = r
		return nil
	}
	if op.Responses.Codes != nil {
		for code, resp := range op.Responses.Codes.FromOldest() {
			key := strings.ToUpper(code)
			if len(key) != 3 || key[0] != '2' {
				continue
			}
			if err := add(code, key, resp); err != nil {
				return err
			}
		}
	}
	if op.Responses.Default != nil {
		return add("default", "default", op.Responses.Default)
	}
	return nil
}

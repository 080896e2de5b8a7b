package jsonbody

import (
	"errors"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/checkoutgw/checkoutgw/strictjson"
)

// rootPath names the answer itself when the violation is at its top level:
// the empty path would read as nothing in a log line.
const rootPath = "(root)"

// Mismatches holds an answer, such as an upstream's response body, to the
// schema through the same strict parser and engine as request bodies. Its
// top level may be any JSON value. It returns each offending property's
// path with every reason, never a value, and nil when the answer conforms;
// an answer that is not strict JSON is an error, which names no value
// either.
func (s *Schema) Mismatches(answer []byte) (map[string][]string, error) {
	doc := documents.Get().(*strictjson.Document)
	defer putDocument(doc)
	if err := doc.ParseValue(answer); err != nil {
		return nil, fmt.Errorf("not strict JSON: %w", err)
	}
	if s.fast != nil && s.fast.accepts(doc.Root()) {
		return nil, nil
	}
	value := doc.Root().Value()
	err := s.compiled.Validate(value)
	if err == nil {
		return nil, nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return nil, fmt.Errorf("could not be validated: %w", err)
	}
	fields := s.violations(verr, value)
	if len(fields) > maxListedProperties {
		fields = firstProperties(fields, maxListedProperties)
	}
	if reasons, ok := fields[""]; ok {
		delete(fields, "")
		fields[rootPath] = reasons
	}
	return fields, nil
}

package caddymodule

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/schemas"
	"github.com/checkoutgw/checkoutgw/strictjson"
)

// bodySchema is a compiled request-body schema and the raw document it came
// from, which supplies the custom messages for long enumerations.
type bodySchema struct {
	title    string
	compiled *jsonschema.Schema
	fast     *fastSchema            // nil when the schema uses keywords it lacks
	names    strictjson.MemberNames // every property name the schema declares
	doc      any
}

// noRemoteLoader refuses every external reference: schemas stay local and
// embedded, and compiling one never touches the network or other files.
type noRemoteLoader struct{}

func (noRemoteLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema references %s: external references are not loaded", url)
}

// loadBodySchema compiles a built-in schema by name, or a schema file by
// path, with format assertions and the gateway's vocabulary on; now is the
// clock its "today" is read from.
func loadBodySchema(nameOrPath string, now func() time.Time) (*bodySchema, error) {
	data, err := schemas.Lookup(nameOrPath)
	location := "builtin:///" + nameOrPath + ".json"
	if errors.Is(err, schemas.ErrUnknown) {
		if !strings.ContainsAny(nameOrPath, `/\.`) {
			return nil, fmt.Errorf("%q is neither a built-in schema (%s) nor a file path", nameOrPath, strings.Join(schemas.Names(), ", "))
		}
		if data, err = os.ReadFile(nameOrPath); err != nil {
			return nil, fmt.Errorf("reading schema file: %w", err)
		}
		abs, err := filepath.Abs(nameOrPath)
		if err != nil {
			return nil, fmt.Errorf("resolving schema file path: %w", err)
		}
		location = "file://" + filepath.ToSlash(abs)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", nameOrPath, err)
	}
	c := newSchemaCompiler(now)
	compiledDoc := indexLargeEnums(c, doc)
	if err := c.AddResource(location, compiledDoc); err != nil {
		return nil, fmt.Errorf("adding %s: %w", nameOrPath, err)
	}
	compiled, err := c.Compile(location)
	if err != nil {
		return nil, fmt.Errorf("compiling %s: %w", nameOrPath, err)
	}
	title, _ := doc.(map[string]any)["title"].(string)
	bs := &bodySchema{title: title, compiled: compiled, names: declaredProperties(doc), doc: doc}
	if fast, ok := compileFastSchema(compiled); ok {
		bs.fast = fast
	}
	return bs, nil
}

// compileBodySchema compiles a schema document given as JSON (an OpenAPI
// operation's translated body schema) exactly as loadBodySchema compiles a
// schema file; location names it in errors and must be a URL.
func compileBodySchema(location string, data []byte, now func() time.Time) (*bodySchema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", location, err)
	}
	c := newSchemaCompiler(now)
	if err := c.AddResource(location, indexLargeEnums(c, doc)); err != nil {
		return nil, fmt.Errorf("adding %s: %w", location, err)
	}
	compiled, err := c.Compile(location)
	if err != nil {
		return nil, fmt.Errorf("compiling %s: %w", location, err)
	}
	bs := &bodySchema{compiled: compiled, names: declaredProperties(doc), doc: doc}
	if fast, ok := compileFastSchema(compiled); ok {
		bs.fast = fast
	}
	return bs, nil
}

// newSchemaCompiler is a compiler for body schemas: 2020-12 unless a schema
// says otherwise, formats and bodyVocabulary asserted, nothing loaded from
// outside.
func newSchemaCompiler(now func() time.Time) *jsonschema.Compiler {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.RegisterVocabulary(bodyVocabulary(now))
	c.AssertVocabs()
	c.UseLoader(noRemoteLoader{})
	return c
}

// largeEnumFormat prefixes the formats that stand in for long string enums.
const largeEnumFormat = "checkoutgw-enum-"

// minIndexedEnum is the enum length from which a set lookup beats the
// validator's linear comparison.
const minIndexedEnum = 16

// indexLargeEnums returns a copy of doc in which every enum of at least
// minIndexedEnum strings (country and subdivision codes) is replaced by a
// format that looks the value up in a set: the validator compares enum
// members one by one, which made the code lists the bulk of validation. The
// schema file itself keeps its enums; only the compiled form changes.
func indexLargeEnums(c *jsonschema.Compiler, doc any) any {
	count := 0
	var walk func(v any) any
	walk = func(v any) any {
		switch n := v.(type) {
		case []any:
			out := make([]any, len(n))
			for i, item := range n {
				out[i] = walk(item)
			}
			return out
		case map[string]any:
			out := make(map[string]any, len(n))
			for k, item := range n {
				out[k] = walk(item)
			}
			members, ok := stringSet(n["enum"])
			if ok && len(members) >= minIndexedEnum {
				if _, hasFormat := n["format"]; !hasFormat {
					count++
					name := fmt.Sprintf("%s%d", largeEnumFormat, count)
					c.RegisterFormat(&jsonschema.Format{Name: name, Validate: func(v any) error {
						if s, isString := v.(string); isString && !members[s] {
							return errors.New("not one of the allowed values")
						}
						return nil
					}})
					delete(out, "enum")
					out["format"] = name
				}
			}
			return out
		}
		return v
	}
	return walk(doc)
}

// declaredProperties collects the names of every "properties" keyword in
// the schema document: the member names a valid body is made of.
func declaredProperties(doc any) strictjson.MemberNames {
	var names []string
	var walk func(v any)
	walk = func(v any) {
		switch n := v.(type) {
		case []any:
			for _, item := range n {
				walk(item)
			}
		case map[string]any:
			if props, ok := n["properties"].(map[string]any); ok {
				for name := range props {
					names = append(names, name)
				}
			}
			for _, item := range n {
				walk(item)
			}
		}
	}
	walk(doc)
	return strictjson.NewMemberNames(names...)
}

func stringSet(v any) (map[string]bool, bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	set := make(map[string]bool, len(list))
	for _, item := range list {
		s, isString := item.(string)
		if !isString {
			return nil, false
		}
		set[s] = true
	}
	return set, true
}

// validate checks a strictly parsed body and reports every violation by
// property path, with every reason, never quoting a value.
func (s *bodySchema) validate(body map[string]any) *envelope.Rejection {
	if s.fast != nil && s.fast.accepts(body) {
		return nil
	}
	err := s.compiled.Validate(body)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return envelope.Reject(envelope.ReasonSchema, "the request body could not be validated")
	}
	fields := s.violations(verr, body)
	if len(fields) > maxListedProperties {
		unlisted := len(fields) - maxListedProperties
		rej := envelope.Reject(envelope.ReasonSchema, "the request has %d invalid properties: the first %d are listed, %d more %s not",
			len(fields), maxListedProperties, unlisted, plural(unlisted, "is", "are"))
		rej.Fields = firstProperties(fields, maxListedProperties)
		return rej
	}
	rej := envelope.Reject(envelope.ReasonSchema, "the request has %d invalid %s", len(fields), plural(len(fields), "property", "properties"))
	rej.Fields = fields
	return rej
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

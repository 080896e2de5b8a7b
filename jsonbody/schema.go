// Package jsonbody is the body contract: a request body is a JSON object
// that the strict parser accepts and that satisfies a JSON schema. It
// compiles the schemas (built in, from a file, never from the network),
// checks valid bodies on a fast path, and words every violation by
// property path without quoting a value.
package jsonbody

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/schemas"
	"github.com/checkoutgw/checkoutgw/strictjson"
)

// Schema is a compiled request-body schema and the raw documents it came
// from, which supply the custom messages for long enumerations.
type Schema struct {
	title    string
	compiled *jsonschema.Schema
	fast     *fastSchema    // nil when the schema uses keywords it lacks
	docs     map[string]any // by the URL each was added under
	base     string         // the URL of the document compiled from
}

// Title is the schema's title, the gateway's default action name.
func (s *Schema) Title() string { return s.title }

// noRemoteLoader refuses every external reference: schemas stay local and
// embedded, and compiling one never touches the network or other files.
type noRemoteLoader struct{}

func (noRemoteLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema references %s: external references are not loaded", url)
}

// Load compiles a built-in schema by name, or a schema file by path, with
// format assertions and the gateway's vocabulary on; now is the clock its
// "today" is read from.
func Load(nameOrPath string, now func() time.Time) (*Schema, error) {
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
	enums := newEnumIndex(c)
	if err := c.AddResource(location, enums.apply(doc)); err != nil {
		return nil, fmt.Errorf("adding %s: %w", nameOrPath, err)
	}
	return build(c, enums, location, nameOrPath, map[string]any{location: doc})
}

// Compile compiles the schema at location from documents held in memory,
// keyed by the URL their references use, with the same rules as Load: an
// OpenAPI document's request body, for instance, is its URL with a
// JSON-pointer fragment such as "#/components/schemas/Session". References
// resolve among resources only.
func Compile(resources map[string][]byte, location string, now func() time.Time) (*Schema, error) {
	c := newSchemaCompiler(now)
	enums := newEnumIndex(c)
	docs := make(map[string]any, len(resources))
	for _, url := range slices.Sorted(maps.Keys(resources)) {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(resources[url]))
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", url, err)
		}
		if err := c.AddResource(url, enums.apply(doc)); err != nil {
			return nil, fmt.Errorf("adding %s: %w", url, err)
		}
		docs[url] = doc
	}
	return build(c, enums, location, location, docs)
}

// build compiles location from the resources added to c through enums,
// whose documents as written are docs; label names the schema in errors.
func build(c *jsonschema.Compiler, enums *enumIndex, location, label string, docs map[string]any) (*Schema, error) {
	compiled, err := c.Compile(location)
	if err != nil {
		return nil, fmt.Errorf("compiling %s: %w", label, err)
	}
	base, _, _ := strings.Cut(location, "#")
	s := &Schema{compiled: compiled, docs: docs, base: base}
	s.title, _ = s.keywordAt(location, "title").(string)
	if fast, ok := compileFastSchema(compiled, enums.sets); ok {
		s.fast = fast
	}
	return s, nil
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

// enumIndex replaces, in copies of the documents it is given, every enum
// of at least minIndexedEnum strings (country and subdivision codes) beside
// "type": "string" by a format that looks the value up in a set: the validator compares enum
// members one by one, which made the code lists the bulk of validation.
// The documents themselves keep their enums; only the compiled form
// changes. One index serves a compiler, so that format names stay unique.
type enumIndex struct {
	c    *jsonschema.Compiler
	sets map[string]*enumSet // by format name, for the fast checker
}

func newEnumIndex(c *jsonschema.Compiler) *enumIndex {
	return &enumIndex{c: c, sets: make(map[string]*enumSet)}
}

func (x *enumIndex) apply(doc any) any {
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
			// The format passes every value that is not a string, as formats
			// do, so only an enum whose type already refuses those can
			// become one.
			if ok && len(members) >= minIndexedEnum && n["type"] == "string" {
				if _, hasFormat := n["format"]; !hasFormat {
					name := fmt.Sprintf("%s%d", largeEnumFormat, len(x.sets)+1)
					set := newEnumSet(members)
					x.sets[name] = set
					x.c.RegisterFormat(&jsonschema.Format{Name: name, Validate: func(v any) error {
						if s, isString := v.(string); isString && !set.has(s) {
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

// enumSet is a long enum's members. Sets of two capital letters (country,
// state and province codes) are a bit per pair, a cache line or two:
// looking a code up in a map of 249 strings touched several lines, each
// cold by the time the body is checked after a signature's verification.
type enumSet struct {
	pairs   *[(26*26 + 63) / 64]uint64 // nil unless every member is two letters A to Z
	members map[string]bool
}

func newEnumSet(members map[string]bool) *enumSet {
	pairs := new([(26*26 + 63) / 64]uint64)
	for m := range members {
		i, ok := letterPair(m)
		if !ok {
			return &enumSet{members: members}
		}
		pairs[i/64] |= 1 << (i % 64)
	}
	return &enumSet{pairs: pairs, members: members}
}

func (e *enumSet) has(s string) bool {
	if e.pairs == nil {
		return e.members[s]
	}
	i, ok := letterPair(s)
	return ok && e.pairs[i/64]&(1<<(i%64)) != 0
}

// letterPair numbers a string of two capital letters from 0 to 675.
func letterPair(s string) (int, bool) {
	if len(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' {
		return 0, false
	}
	return int(s[0]-'A')*26 + int(s[1]-'A'), true
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

// Check holds a request body to the contract, in the order of the verdict
// table: not empty, strict JSON, then the schema.
func (s *Schema) Check(body []byte) *envelope.Rejection {
	if len(body) == 0 {
		return envelope.Reject(envelope.ReasonBodyNotJSON, "the request body is empty; it must be a JSON object")
	}
	doc := documents.Get().(*strictjson.Document)
	defer putDocument(doc)
	if err := doc.Parse(body); err != nil {
		return envelope.Reject(envelope.ReasonBodyNotJSON, "the request body is not strict JSON: %s", err)
	}
	if s.fast != nil && s.fast.accepts(doc.Root()) {
		return nil
	}
	return s.validate(doc.Root().Value().(map[string]any))
}

// documents holds parsed bodies' flat forms between requests: a valid body
// is checked on its Document alone, with no value tree.
var documents = sync.Pool{New: func() any { return new(strictjson.Document) }}

func putDocument(doc *strictjson.Document) {
	doc.Reset()
	documents.Put(doc)
}

// validate checks a strictly parsed body with jsonschema and reports every
// violation by property path, with every reason, never quoting a value.
func (s *Schema) validate(body map[string]any) *envelope.Rejection {
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

package jsonbody

import (
	"cmp"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// maxListedEnum is the longest enumeration spelled out in a reason; longer
// ones (country codes) use the schema's x-enum-message.
const maxListedEnum = 10

// maxListedProperties bounds Extensions.Request: a body with a fault in
// every array element would otherwise get an answer several times its size.
const maxListedProperties = 100

// maxReasons bounds the reasons given for one property: a schema may stack
// any number of rules on one place (allOf, anyOf).
const maxReasons = 8

// violations flattens a validation error tree into Extensions.Request: each
// offending property's dotted path mapped to every reason found for it.
func (s *Schema) violations(root *jsonschema.ValidationError, body any) map[string][]string {
	fields := make(map[string][]string)
	add := func(path, why string) {
		if len(fields[path]) < maxReasons && !slices.Contains(fields[path], why) {
			fields[path] = append(fields[path], why)
		}
	}
	EachLeaf(root, func(e *jsonschema.ValidationError) {
		at := instancePath(body, e.InstanceLocation)
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			for _, name := range k.Missing {
				add(joinPath(at, name), "is required")
			}
		case *kind.AdditionalProperties:
			for _, name := range k.Properties {
				add(joinPath(at, name), "is not allowed")
			}
		case *datesOutOfOrder:
			add(joinPath(at, k.later), s.reasonFor(e))
		default:
			add(at, s.reasonFor(e))
		}
	})
	return fields
}

// reasonFor words one violation in plain English, naming the rule and its
// limit but never the submitted value: bodies carry KYC data. It refines
// Describe with what this schema says around the rule.
func (s *Schema) reasonFor(e *jsonschema.ValidationError) string {
	switch k := e.ErrorKind.(type) {
	case *kind.Type:
		return Describe(e) + ", not " + k.Got
	case *kind.MinLength:
		if k.Want == 1 {
			return "must not be empty"
		}
		if s.maxLengthAt(e.SchemaURL) == k.Want {
			return fmt.Sprintf("must be exactly %d characters", k.Want)
		}
	case *kind.MaxLength:
		if s.minLengthAt(e.SchemaURL) == k.Want {
			return fmt.Sprintf("must be exactly %d characters", k.Want)
		}
	case *kind.Enum:
		if msg, ok := s.keywordAt(e.SchemaURL, "x-enum-message").(string); ok {
			return msg
		}
	case *kind.Format:
		if strings.HasPrefix(k.Want, largeEnumFormat) {
			if msg, ok := s.keywordAt(e.SchemaURL, "x-enum-message").(string); ok {
				return msg
			}
			return "must be one of the allowed values"
		}
		if k.Want == "date" {
			return "must be a real calendar date written YYYY-MM-DD"
		}
	case *formattingCharacters, *dateOutOfRange, *datesOutOfOrder:
		return k.LocalizedString(nil) // worded for the client already
	}
	return Describe(e)
}

// EachLeaf visits the violations at the leaves of a validation error's
// tree: the rules that failed, without the schemas that merely contain them.
func EachLeaf(root *jsonschema.ValidationError, visit func(*jsonschema.ValidationError)) {
	if len(root.Causes) == 0 {
		visit(root)
		return
	}
	for _, c := range root.Causes {
		EachLeaf(c, visit)
	}
}

// Describe words a violation by its rule and limit alone, never the value
// checked: the wording every schema of the gateway, body or parameter,
// answers with.
func Describe(e *jsonschema.ValidationError) string {
	switch k := e.ErrorKind.(type) {
	case *kind.Type:
		return "must be " + Articled(k.Want)
	case *kind.MinLength:
		return fmt.Sprintf("must be at least %d characters", k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("must be at most %d characters", k.Want)
	case *kind.Enum:
		if len(k.Want) > maxListedEnum {
			return "must be one of the allowed values"
		}
		names := make([]string, len(k.Want))
		for i, w := range k.Want {
			names[i] = fmt.Sprint(w)
		}
		return "must be one of " + strings.Join(names, ", ")
	case *kind.Const:
		return fmt.Sprintf("must be %v", k.Want)
	case *kind.Format:
		return "must be a valid " + k.Want
	case *kind.Pattern:
		return "must match the pattern " + k.Want
	case *kind.Minimum:
		return "must be at least " + k.Want.RatString()
	case *kind.Maximum:
		return "must be at most " + k.Want.RatString()
	case *kind.ExclusiveMinimum:
		return "must be more than " + k.Want.RatString()
	case *kind.ExclusiveMaximum:
		return "must be less than " + k.Want.RatString()
	case *kind.MultipleOf:
		return "must be a multiple of " + k.Want.RatString()
	case *kind.MinItems:
		return fmt.Sprintf("must have at least %d items", k.Want)
	case *kind.MaxItems:
		return fmt.Sprintf("must have at most %d items", k.Want)
	case *kind.UniqueItems:
		return "must not repeat an item"
	case *kind.FalseSchema:
		return "is not allowed"
	}
	return "is not valid"
}

// Articled names JSON types with their article: "an integer or a string".
func Articled(types []string) string {
	out := make([]string, len(types))
	for i, t := range types {
		switch t {
		case "object", "array", "integer":
			out[i] = "an " + t
		default:
			out[i] = "a " + t
		}
	}
	return strings.Join(out, " or ")
}

func (s *Schema) minLengthAt(schemaURL string) int {
	return jsonInt(s.keywordAt(schemaURL, "minLength"))
}

func (s *Schema) maxLengthAt(schemaURL string) int {
	return jsonInt(s.keywordAt(schemaURL, "maxLength"))
}

func jsonInt(v any) int {
	n, ok := v.(interface{ String() string })
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(n.String())
	if err != nil {
		return -1
	}
	return i
}

// keywordAt reads a keyword of the schema object at schemaURL in the raw
// documents: where the compiled schema keeps no custom keywords. A URL
// that names no document, as a document's own $id does, is read in the one
// compiled from.
func (s *Schema) keywordAt(schemaURL, keyword string) any {
	base, fragment, _ := strings.Cut(schemaURL, "#")
	node, known := s.docs[base]
	if !known {
		node = s.docs[s.base]
	}
	for _, token := range strings.Split(strings.TrimPrefix(fragment, "/"), "/") {
		if token == "" {
			continue
		}
		if unescaped, err := url.PathUnescape(token); err == nil {
			token = unescaped
		}
		token = strings.NewReplacer("~1", "/", "~0", "~").Replace(token)
		switch n := node.(type) {
		case map[string]any:
			node = n[token]
		case []any:
			i, err := strconv.Atoi(token)
			if err != nil || i < 0 || i >= len(n) {
				return nil
			}
			node = n[i]
		default:
			return nil
		}
	}
	obj, _ := node.(map[string]any)
	return obj[keyword]
}

// instancePath writes an instance location as the envelope names it,
// walking the body so that array indexes and numeric member names differ.
func instancePath(body any, location []string) string {
	var b strings.Builder
	node := body
	for _, seg := range location {
		switch n := node.(type) {
		case []any:
			b.WriteString("[" + seg + "]")
			if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(n) {
				node = n[i]
			}
		case map[string]any:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(seg)
			node = n[seg]
		}
	}
	return b.String()
}

// firstProperties keeps the first n of fields in the order comparePaths
// gives, so that a capped answer lists the same properties every time.
func firstProperties(fields map[string][]string, n int) map[string][]string {
	kept := make(map[string][]string, n)
	for _, path := range slices.SortedFunc(maps.Keys(fields), comparePaths)[:n] {
		kept[path] = fields[path]
	}
	return kept
}

// comparePaths orders property paths as a reader does, runs of digits by
// their number: Identities[2] before Identities[10].
func comparePaths(a, b string) int {
	for a != "" && b != "" {
		digitsA, digitsB := leadingDigits(a), leadingDigits(b)
		if digitsA > 0 && digitsB > 0 {
			if c := cmp.Or(cmp.Compare(digitsA, digitsB), strings.Compare(a[:digitsA], b[:digitsB])); c != 0 {
				return c
			}
			a, b = a[digitsA:], b[digitsB:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func leadingDigits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

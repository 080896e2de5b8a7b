package openapi

import (
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// fastParam accepts the common scalar parameter without the validator,
// whose per-call cost would exceed the gateway's budget for parameter
// checks. It only ever accepts what the compiled schema accepts: anything
// it is not sure of goes to the validator, which also words the reasons.
type fastParam struct {
	types                 []string // nil: any type
	enum                  []any
	minimum, maximum      *float64
	exclusiveMin, exclMax bool
	minLength, maxLength  int // -1 when absent
	pattern               *regexp.Regexp
	format                func(string) bool
}

// fastKeywords are those fastParam decides; any other keyword in the
// schema leaves the decision to the validator. type is decided by the
// conversion from text.
var fastKeywords = []string{"type", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
	"minLength", "maxLength", "pattern", "format", "$schema", "title", "description", "default", "deprecated", "examples"}

var fastFormats = map[string]func(string) bool{
	"uuid":      isUUID,
	"date":      func(s string) bool { return len(s) == 10 && parses("2006-01-02", s) },
	"date-time": func(s string) bool { return dateTime.MatchString(s) && parses(time.RFC3339Nano, s) },
}

var dateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$`)

func parses(layout, s string) bool {
	_, err := time.Parse(layout, s)
	return err == nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'):
			return false
		}
	}
	return true
}

// newFastParam is nil for a schema it cannot decide alone.
func newFastParam(s map[string]any) *fastParam {
	for k := range s {
		if !slices.Contains(fastKeywords, k) {
			return nil
		}
	}
	f := &fastParam{minLength: -1, maxLength: -1}
	switch typ := s["type"].(type) {
	case string:
		f.types = []string{typ}
	case []any:
		for _, item := range typ {
			name, _ := item.(string)
			f.types = append(f.types, name)
		}
	case nil:
	default:
		return nil
	}
	if enum, ok := s["enum"].([]any); ok {
		f.enum = enum
	}
	var ok bool
	if f.minimum, f.exclusiveMin, ok = bound(s, "minimum", "exclusiveMinimum"); !ok {
		return nil
	}
	if f.maximum, f.exclMax, ok = bound(s, "maximum", "exclusiveMaximum"); !ok {
		return nil
	}
	if f.minLength, ok = length(s["minLength"]); !ok {
		return nil
	}
	if f.maxLength, ok = length(s["maxLength"]); !ok {
		return nil
	}
	if p, isString := s["pattern"].(string); isString {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil
		}
		f.pattern = re
	}
	if name, isString := s["format"].(string); isString {
		if f.format = fastFormats[name]; f.format == nil {
			return nil
		}
	}
	return f
}

// bound reads an inclusive or (2020-12, numeric) exclusive bound.
func bound(s map[string]any, inclusive, exclusive string) (*float64, bool, bool) {
	if v, ok := s[exclusive]; ok {
		f, ok := number(v)
		return &f, true, ok
	}
	if v, ok := s[inclusive]; ok {
		f, ok := number(v)
		return &f, false, ok
	}
	return nil, false, true
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func length(v any) (int, bool) {
	if v == nil {
		return -1, true
	}
	f, ok := number(v)
	return int(f), ok && f >= 0 && f == math.Trunc(f)
}

// accepts is true only when the value certainly satisfies the schema.
func (f *fastParam) accepts(v any) bool {
	switch x := v.(type) {
	case string:
		return f.allows("string") && f.acceptsString(x)
	case json.Number:
		// acceptsNumber takes integers only, which both types admit.
		return (f.allows("integer") || f.allows("number")) && f.acceptsNumber(x)
	case bool:
		return f.allows("boolean") && f.enum == nil && f.minimum == nil && f.maximum == nil
	}
	return false
}

func (f *fastParam) allows(typ string) bool {
	return f.types == nil || slices.Contains(f.types, typ)
}

func (f *fastParam) acceptsString(s string) bool {
	if f.enum != nil && !slices.Contains(f.enum, any(s)) {
		return false
	}
	if f.minLength >= 0 || f.maxLength >= 0 {
		n := utf8.RuneCountInString(s)
		if f.minLength >= 0 && n < f.minLength || f.maxLength >= 0 && n > f.maxLength {
			return false
		}
	}
	if f.pattern != nil && !f.pattern.MatchString(s) {
		return false
	}
	return f.format == nil || f.format(s)
}

// acceptsNumber compares in float64 only where that is exact: integers up
// to 2^53, and never a value equal to a bound.
func (f *fastParam) acceptsNumber(n json.Number) bool {
	if f.enum != nil || f.format != nil || f.pattern != nil || f.minLength >= 0 || f.maxLength >= 0 {
		return false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || i > 1<<53 || i < -(1<<53) {
		return false
	}
	x := float64(i)
	if f.minimum != nil && (x < *f.minimum || x == *f.minimum && f.exclusiveMin) {
		return false
	}
	return f.maximum == nil || x < *f.maximum || x == *f.maximum && !f.exclMax
}

// Package strictjson decodes JSON in one pass and refuses what
// encoding/json tolerates, so that one document has one meaning: duplicate
// members, invalid UTF-8, lone surrogates, a byte-order mark, trailing
// content and deep nesting.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/checkoutgw/checkoutgw/internal/asciiword"
)

// maxJSONDepth bounds nesting so that a hostile document cannot exhaust the
// stack or make later passes expensive.
const maxJSONDepth = 32

// Error says which strictness rule a document broke and where. It never
// carries a value from the document, only member names on the path.
type Error struct {
	Offset int
	Path   string
	Rule   string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s at byte %d", e.Rule, e.Offset)
	}
	return fmt.Sprintf("%s at byte %d (%s)", e.Rule, e.Offset, clipPath(e.Path))
}

// Rule is the rule a strict-JSON error names, without its place: the
// place in a token means nothing to the integrator.
func Rule(err error) string {
	var je *Error
	if errors.As(err, &je) {
		return je.Rule
	}
	return err.Error()
}

// Parse decodes one JSON object in a single pass and refuses what
// encoding/json tolerates: duplicate members, invalid UTF-8, lone surrogate
// escapes, a byte-order mark, trailing content and deep nesting. Numbers
// stay json.Number so that nothing is lost. names, which may be nil, holds
// the member names the caller expects: a member named like one of them
// shares that string instead of allocating its own.
func Parse(data []byte, names MemberNames) (map[string]any, error) {
	v, err := parse(data, names, true)
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

// ParseValue is Parse for a document whose top level may be any JSON
// value: an upstream answer can be a list.
func ParseValue(data []byte, names MemberNames) (any, error) {
	return parse(data, names, false)
}

func parse(data []byte, names MemberNames, objectOnly bool) (any, error) {
	p := strictParser{data: data, names: names}
	var v any
	err := p.document(objectOnly, func() (err error) {
		v, err = p.value(0)
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

type strictParser struct {
	data  []byte
	text  string // data as a string, when decoded strings may be slices of it
	pos   int
	path  []pathStep // where the parser is, rendered only for an error
	names MemberNames
}

// document checks what surrounds the document's one value, which value
// consumes: no byte-order mark, something there, an object when
// objectOnly, and nothing after it.
func (p *strictParser) document(objectOnly bool, value func() error) error {
	if len(p.data) >= 3 && p.data[0] == 0xEF && p.data[1] == 0xBB && p.data[2] == 0xBF {
		return p.fail("byte-order mark before the JSON value")
	}
	p.skipSpace()
	if p.pos >= len(p.data) {
		return p.fail("empty document")
	}
	if objectOnly && p.data[p.pos] != '{' {
		return p.fail("the JSON value is not an object")
	}
	if err := value(); err != nil {
		return err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return p.fail("content after the JSON value")
	}
	return nil
}

// pathStep is an array index, or a member name when index is -1.
type pathStep struct {
	name  string
	index int
}

// MemberNames is a set of expected member names, each mapped to itself.
// It leaves out any name that JSON would have to escape, so that raw bytes
// equal to a name always decode to that name.
type MemberNames map[string]string

func NewMemberNames(names ...string) MemberNames {
	m := make(MemberNames, len(names))
	for _, name := range names {
		if utf8.ValidString(name) && !strings.ContainsFunc(name, func(r rune) bool { return r == '"' || r == '\\' || r < 0x20 }) {
			m[name] = name
		}
	}
	return m
}

func (p *strictParser) fail(rule string) *Error {
	return &Error{Offset: p.pos, Path: dottedPath(p.path), Rule: rule}
}

func (p *strictParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *strictParser) value(depth int) (any, error) {
	p.skipSpace()
	if p.pos >= len(p.data) {
		return nil, p.fail("unexpected end of JSON")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		return p.string()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	default:
		return nil, p.fail("invalid character")
	}
}

func (p *strictParser) literal(word string) error {
	if !strings.HasPrefix(string(p.data[p.pos:min(len(p.data), p.pos+len(word))]), word) {
		return p.fail("invalid literal")
	}
	p.pos += len(word)
	return nil
}

func (p *strictParser) object(depth int) (any, error) {
	obj := make(map[string]any)
	err := p.members(depth, func(name string) bool {
		_, dup := obj[name]
		return dup
	}, func(name string) error {
		v, err := p.value(depth)
		obj[name] = v
		return err
	})
	if err != nil {
		return nil, err
	}
	return obj, nil
}

// members walks the object at p.pos, whose nesting depth is depth. For each
// member it asks seen whether the name came before (a duplicate is
// refused), then has member consume the value at nesting depth depth.
func (p *strictParser) members(depth int, seen func(name string) bool, member func(name string) error) error {
	if depth > maxJSONDepth {
		return p.fail(fmt.Sprintf("nesting deeper than %d", maxJSONDepth))
	}
	p.pos++ // '{'
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return p.fail("expected a member name")
		}
		nameAt := p.pos
		name, err := p.memberName()
		if err != nil {
			return err
		}
		if seen(name) {
			p.pos = nameAt
			p.path = append(p.path, pathStep{name: name, index: -1})
			return p.fail("duplicate member")
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return p.fail("expected ':' after a member name")
		}
		p.pos++
		p.path = append(p.path, pathStep{name: name, index: -1})
		if err := member(name); err != nil {
			return err
		}
		p.path = p.path[:len(p.path)-1]
		if done, err := p.next('}', "an object"); done || err != nil {
			return err
		}
	}
}

func (p *strictParser) array(depth int) (any, error) {
	arr := []any{}
	err := p.items(depth, func() error {
		v, err := p.value(depth)
		arr = append(arr, v)
		return err
	})
	if err != nil {
		return nil, err
	}
	return arr, nil
}

// items walks the array at p.pos, whose nesting depth is depth, and has
// item consume each element at nesting depth depth.
func (p *strictParser) items(depth int, item func() error) error {
	if depth > maxJSONDepth {
		return p.fail(fmt.Sprintf("nesting deeper than %d", maxJSONDepth))
	}
	p.pos++ // '['
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return nil
	}
	for i := 0; ; i++ {
		p.path = append(p.path, pathStep{index: i})
		if err := item(); err != nil {
			return err
		}
		p.path = p.path[:len(p.path)-1]
		if done, err := p.next(']', "an array"); done || err != nil {
			return err
		}
	}
}

// next reads what follows an element of an object or array: a comma, or
// the closing byte, which ends it (done).
func (p *strictParser) next(closing byte, container string) (done bool, err error) {
	p.skipSpace()
	if p.pos >= len(p.data) {
		return false, p.fail("unexpected end of JSON")
	}
	switch p.data[p.pos] {
	case ',':
		p.pos++
		return false, nil
	case closing:
		p.pos++
		return true, nil
	}
	return false, p.fail(fmt.Sprintf("expected ',' or '%c' in %s", closing, container))
}

// memberName decodes a member name like string, but returns the shared
// copy of an expected name. Expected names hold no escapes, quotes or
// control characters, so bytes up to the next quote that equal one are
// exactly that name, as string would have decoded it.
func (p *strictParser) memberName() (string, error) {
	if p.names == nil || p.text != "" {
		return p.string() // a substring of the text is no copy either
	}
	raw := p.data[p.pos+1:]
	if end := bytes.IndexByte(raw, '"'); end >= 0 {
		if name, expected := p.names[string(raw[:end])]; expected {
			p.pos += end + 2
			return name, nil
		}
	}
	return p.string()
}

// string decodes a string token. The common case, plain ASCII or valid UTF-8
// without escapes, is a single scan and one allocation, or none when the
// parser holds the text as a string.
func (p *strictParser) string() (string, error) {
	start := p.pos + 1
	ascii := true
	for i := start + asciiword.Prefix(p.data[start:], '"', '\\'); i < len(p.data); i++ {
		c := p.data[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' {
			continue // nearly every byte of a string
		}
		switch {
		case c == '"':
			raw := p.data[start:i]
			if !ascii && !utf8.Valid(raw) {
				p.pos = start
				return "", p.fail("invalid UTF-8 in a string")
			}
			p.pos = i + 1
			if p.text != "" {
				return p.text[start:i], nil
			}
			return string(raw), nil
		case c == '\\':
			return p.escapedString(start)
		case c < 0x20:
			p.pos = i
			return "", p.fail("control character in a string")
		}
		ascii = false
	}
	p.pos = len(p.data)
	return "", p.fail("unterminated string")
}

func (p *strictParser) escapedString(start int) (string, error) {
	var b strings.Builder
	i := start
	for i < len(p.data) {
		c := p.data[i]
		switch {
		case c == '"':
			p.pos = i + 1
			return b.String(), nil
		case c < 0x20:
			p.pos = i
			return "", p.fail("control character in a string")
		case c == '\\':
			if i+1 >= len(p.data) {
				p.pos = i
				return "", p.fail("unterminated string")
			}
			switch e := p.data[i+1]; e {
			case '"', '\\', '/':
				b.WriteByte(e)
				i += 2
			case 'b':
				b.WriteByte('\b')
				i += 2
			case 'f':
				b.WriteByte('\f')
				i += 2
			case 'n':
				b.WriteByte('\n')
				i += 2
			case 'r':
				b.WriteByte('\r')
				i += 2
			case 't':
				b.WriteByte('\t')
				i += 2
			case 'u':
				r, n, err := p.unicodeEscape(i)
				if err != nil {
					return "", err
				}
				b.WriteRune(r)
				i += n
			default:
				p.pos = i
				return "", p.fail("invalid escape in a string")
			}
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRune(p.data[i:])
			if r == utf8.RuneError && size <= 1 {
				p.pos = i
				return "", p.fail("invalid UTF-8 in a string")
			}
			b.Write(p.data[i : i+size])
			i += size
		}
	}
	p.pos = i
	return "", p.fail("unterminated string")
}

// unicodeEscape decodes \uXXXX at i, joining a surrogate pair and refusing a
// lone surrogate, which encoding/json would silently turn into U+FFFD.
func (p *strictParser) unicodeEscape(i int) (rune, int, error) {
	hi, ok := hex4(p.data, i+2)
	if !ok {
		p.pos = i
		return 0, 0, p.fail("invalid \\u escape in a string")
	}
	if !utf16.IsSurrogate(hi) {
		return hi, 6, nil
	}
	if hi < 0xDC00 && i+12 <= len(p.data) && p.data[i+6] == '\\' && p.data[i+7] == 'u' {
		if lo, ok := hex4(p.data, i+8); ok && lo >= 0xDC00 && lo <= 0xDFFF {
			return utf16.DecodeRune(hi, lo), 12, nil
		}
	}
	p.pos = i
	return 0, 0, p.fail("lone surrogate escape in a string")
}

func hex4(data []byte, at int) (rune, bool) {
	if at+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[at : at+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

func (p *strictParser) number() (any, error) {
	raw, err := p.numberText()
	if err != nil {
		return nil, err
	}
	return json.Number(raw), nil
}

// numberText scans the JSON number grammar exactly,
// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, and returns its bytes.
func (p *strictParser) numberText() ([]byte, error) {
	start := p.pos
	i := p.pos
	d := p.data
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		p.pos = i
		return nil, p.fail("invalid number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		digits := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == digits {
			p.pos = i
			return nil, p.fail("invalid number")
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		digits := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == digits {
			p.pos = i
			return nil, p.fail("invalid number")
		}
	}
	p.pos = i
	return d[start:i], nil
}

// dottedPath writes a location the way the envelope names properties:
// Customer.Identities[0].IDType.
func dottedPath(steps []pathStep) string {
	var b strings.Builder
	for _, step := range steps {
		switch {
		case step.index >= 0:
			b.WriteString("[" + strconv.Itoa(step.index) + "]")
		case b.Len() > 0:
			b.WriteString("." + step.name)
		default:
			b.WriteString(step.name)
		}
	}
	return b.String()
}

// Types is a set of JSON types; zero is the empty set.
type Types uint8

const (
	Null Types = 1 << iota
	Boolean
	Number
	String
	Array
	Object
)

// TypeNames maps JSON Schema type names to their sets.
var TypeNames = map[string]Types{
	"null": Null, "boolean": Boolean, "number": Number,
	"string": String, "array": Array, "object": Object,
}

// TypeOf is the JSON type of a value the strict parser produced.
func TypeOf(v any) Types {
	switch v.(type) {
	case nil:
		return Null
	case bool:
		return Boolean
	case json.Number:
		return Number
	case string:
		return String
	case []any:
		return Array
	case map[string]any:
		return Object
	}
	return 0
}

// maxPathShown bounds a member path quoted in an error: member names come
// from the document, which may be 64 KiB of anything.
const maxPathShown = 64

func clipPath(s string) string {
	if len(s) <= maxPathShown {
		return s
	}
	return strings.ToValidUTF8(s[:maxPathShown], "") + "..."
}

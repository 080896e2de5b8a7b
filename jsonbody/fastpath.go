package jsonbody

import (
	"maps"
	"reflect"
	"slices"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/checkoutgw/checkoutgw/strictjson"
)

// fastSchema answers one question about a strictly parsed body, whether it
// satisfies the compiled schema, without the bookkeeping jsonschema does to
// explain a failure: on a valid body that bookkeeping was most of the
// validation's time and allocations. It implements each keyword it knows
// exactly (TestFastSchemaAgrees and FuzzFastSchemaAgrees hold it to
// jsonschema's answers), and it only ever short-cuts an acceptance: a body it
// refuses goes to jsonschema, which stays the authority on every refusal and
// writes the report. A schema that uses a keyword it does not implement, or
// whose references loop without descending into the body, gets no fast path.
type fastSchema struct {
	// The fields every value reads come first, then those of strings,
	// objects and arrays, and the combinations last, so that checking a
	// value touches as few cache lines as its schema needs.
	always    *bool // a boolean schema
	ref       *fastSchema
	types     strictjson.Types
	combines  bool              // some combination or conditional below is set
	enum      []any             // strings, booleans and nulls
	strFormat func(string) bool // a format run on strings directly, instead of format
	format    func(any) error
	keywords  []fastKeyword // the gateway's own vocabulary

	minLength int
	maxLength int
	pattern   jsonschema.Regexp

	named         []namedProperty // properties and required names, by name
	byName        map[string]int  // index into named, when it is too long to scan
	requiredCount int
	additional    *fastSchema // nil when any other property is allowed
	minProps      int
	maxProps      int // -1 when unbounded

	items    *fastSchema
	minItems int
	maxItems int

	allOf      []*fastSchema
	anyOf      []*fastSchema
	oneOf      []*fastSchema
	not        *fastSchema
	ifSchema   *fastSchema
	thenSchema *fastSchema
	elseSchema *fastSchema
}

// namedProperty is one member name an object schema speaks of: a
// property with its schema, a required name, or both.
type namedProperty struct {
	name     string
	schema   *fastSchema // nil for a required name that has no schema of its own
	required bool
}

// maxScannedNames is the number of names up to which finding one by
// comparing each beats a map lookup: a schema's objects have a few
// properties, and the lengths differ before the bytes do.
const maxScannedNames = 16

// fastKeyword is a compiled vocabulary keyword that can answer for itself
// without reporting: bodyKeywords is one. Any other extension leaves the
// schema without a fast checker.
type fastKeyword interface {
	accepts(v strictjson.Node) bool
}

// compileFastSchema builds the checker for a compiled schema, or reports
// false when the schema uses a keyword the checker does not implement.
// enumSets holds the members of the long enums the schema's formats stand
// for, by format name.
func compileFastSchema(s *jsonschema.Schema, enumSets map[string]*enumSet) (*fastSchema, bool) {
	c := fastCompiler{built: make(map[*jsonschema.Schema]*fastSchema), enumSets: enumSets, ok: true}
	f := c.compile(s)
	if !c.ok || f.loopsInPlace() {
		return f, false
	}
	return c.shortcutReferences(f), true
}

// shortcutReferences lets the schema a reference-only node refers to stand
// in for that node wherever it is used, and returns root's stand-in: most
// of a schema's values are reached through such a $ref, and each cost a
// call and a few cache lines. With no in-place loop, every chain of
// references ends.
func (c *fastCompiler) shortcutReferences(root *fastSchema) *fastSchema {
	skip := func(f *fastSchema) *fastSchema {
		for f != nil && f.onlyRefers() {
			f = f.ref
		}
		return f
	}
	for _, f := range c.built {
		f.ref, f.additional, f.items, f.not = skip(f.ref), skip(f.additional), skip(f.items), skip(f.not)
		f.ifSchema, f.thenSchema, f.elseSchema = skip(f.ifSchema), skip(f.thenSchema), skip(f.elseSchema)
		for i := range f.named {
			f.named[i].schema = skip(f.named[i].schema)
		}
		for _, list := range [][]*fastSchema{f.allOf, f.anyOf, f.oneOf} {
			for i := range list {
				list[i] = skip(list[i])
			}
		}
	}
	return skip(root)
}

// onlyRefers reports whether f asserts nothing beside its $ref, so that
// it accepts exactly what the schema it refers to accepts. Every other
// field must hold what compile starts a node with, whatever fields the
// checker gains later.
func (f *fastSchema) onlyRefers() bool {
	if f.ref == nil {
		return false
	}
	rest := *f
	rest.ref = nil
	return reflect.DeepEqual(&rest, blankSchema())
}

// blankSchema is what compile starts each node with: no assertion at all.
func blankSchema() *fastSchema {
	return &fastSchema{maxProps: -1, maxItems: -1, maxLength: -1}
}

type fastCompiler struct {
	built    map[*jsonschema.Schema]*fastSchema
	enumSets map[string]*enumSet
	ok       bool
}

func (c *fastCompiler) compile(s *jsonschema.Schema) *fastSchema {
	if s == nil {
		return nil
	}
	if f, seen := c.built[s]; seen {
		return f // a reference cycle: the node is being filled in
	}
	f := blankSchema()
	c.built[s] = f
	if !supportedByFastSchema(s) {
		c.ok = false
		return f
	}
	if s.Bool != nil {
		f.always = s.Bool
		return f
	}
	f.ref = c.compile(s.Ref)
	if s.Ref != nil && s.DraftVersion < 2019 {
		return f // before 2019-09, $ref replaces every keyword beside it
	}
	if s.Types != nil {
		for _, name := range s.Types.ToStrings() {
			t, known := strictjson.TypeNames[name]
			if !known {
				c.ok = false // "integer" needs the numeric rules jsonschema has
			}
			f.types |= t
		}
	}
	if s.Enum != nil {
		f.enum = s.Enum.Values
		c.ok = c.ok && allScalarLiterals(f.enum)
	}
	if s.Const != nil {
		f.enum = []any{*s.Const}
		c.ok = c.ok && s.Enum == nil && allScalarLiterals(f.enum)
	}
	if s.Format != nil {
		f.strFormat = c.stringFormat(s.Format.Name)
		if f.strFormat == nil {
			f.format = s.Format.Validate
		}
	}
	for _, ext := range s.Extensions {
		k, known := ext.(fastKeyword)
		if !known {
			c.ok = false
			continue
		}
		f.keywords = append(f.keywords, k)
	}
	f.allOf, f.anyOf, f.oneOf = c.compileAll(s.AllOf), c.compileAll(s.AnyOf), c.compileAll(s.OneOf)
	f.not = c.compile(s.Not)
	f.ifSchema, f.thenSchema, f.elseSchema = c.compile(s.If), c.compile(s.Then), c.compile(s.Else)
	f.combines = f.allOf != nil || f.anyOf != nil || f.oneOf != nil || f.not != nil || f.ifSchema != nil

	c.compileNames(f, s)
	switch additional := s.AdditionalProperties.(type) {
	case bool:
		if !additional {
			f.additional = &fastSchema{always: &additional}
		}
	case *jsonschema.Schema:
		f.additional = c.compile(additional)
	}
	f.minProps, f.maxProps = intOr(s.MinProperties, 0), intOr(s.MaxProperties, -1)

	f.items = c.compile(s.Items2020)
	if items, isSchema := s.Items.(*jsonschema.Schema); isSchema {
		f.items = c.compile(items)
	}
	f.minItems, f.maxItems = intOr(s.MinItems, 0), intOr(s.MaxItems, -1)

	f.minLength, f.maxLength = intOr(s.MinLength, 0), intOr(s.MaxLength, -1)
	f.pattern = s.Pattern
	return f
}

// stringFormat is the named format's check when the format judges strings
// alone and passes every other value, and the checker can run it without
// handing the value over as any, which allocates: a long enum's set, or
// jsonschema's "date", which is time.Parse with parseDate's layout.
func (c *fastCompiler) stringFormat(name string) func(string) bool {
	if set, isEnum := c.enumSets[name]; isEnum {
		return set.has
	}
	if name == "date" {
		return func(s string) bool {
			_, isDate := parseDate(s)
			return isDate
		}
	}
	return nil
}

// compileNames builds f's table of the properties and required names s
// speaks of.
func (c *fastCompiler) compileNames(f *fastSchema, s *jsonschema.Schema) {
	index := make(map[string]int)
	entry := func(name string) *namedProperty {
		if i, seen := index[name]; seen {
			return &f.named[i]
		}
		index[name] = len(f.named)
		f.named = append(f.named, namedProperty{name: name})
		return &f.named[len(f.named)-1]
	}
	for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
		entry(name).schema = c.compile(s.Properties[name])
	}
	for _, name := range s.Required {
		if p := entry(name); !p.required {
			p.required = true
			f.requiredCount++
		}
	}
	if len(f.named) > maxScannedNames {
		f.byName = index
	}
}

func (c *fastCompiler) compileAll(list []*jsonschema.Schema) []*fastSchema {
	if len(list) == 0 {
		return nil
	}
	out := make([]*fastSchema, len(list))
	for i, s := range list {
		out[i] = c.compile(s)
	}
	return out
}

// supportedByFastSchema reports whether every assertion s makes is one the
// checker implements (extensions aside: compile checks each); annotations (title, description, examples) do not
// matter.
func supportedByFastSchema(s *jsonschema.Schema) bool {
	_, itemsList := s.Items.([]*jsonschema.Schema)
	return s.RecursiveRef == nil && s.DynamicRef == nil &&
		s.PropertyNames == nil && len(s.PatternProperties) == 0 &&
		len(s.Dependencies) == 0 && len(s.DependentRequired) == 0 && len(s.DependentSchemas) == 0 &&
		s.UnevaluatedProperties == nil && s.UnevaluatedItems == nil &&
		!itemsList && s.AdditionalItems == nil && len(s.PrefixItems) == 0 &&
		!s.UniqueItems && s.Contains == nil && s.MinContains == nil && s.MaxContains == nil &&
		s.ContentEncoding == nil && s.ContentMediaType == nil && s.ContentSchema == nil &&
		s.Maximum == nil && s.Minimum == nil && s.ExclusiveMaximum == nil && s.ExclusiveMinimum == nil && s.MultipleOf == nil
}

// allScalarLiterals reports whether every member is a string, a boolean or
// null: the values whose equality is plain ==. Numbers compare by value in
// JSON Schema (1 equals 1.0), which jsonschema implements and this does not.
func allScalarLiterals(values []any) bool {
	for _, v := range values {
		switch v.(type) {
		case nil, bool, string:
		default:
			return false
		}
	}
	return true
}

func intOr(p *int, otherwise int) int {
	if p == nil {
		return otherwise
	}
	return *p
}

// accepts reports whether v certainly satisfies the schema.
func (f *fastSchema) accepts(v strictjson.Node) bool {
	if f.always != nil {
		return *f.always
	}
	if f.ref != nil && !f.ref.accepts(v) {
		return false
	}
	t := v.Type()
	if f.types != 0 && f.types&t == 0 {
		return false
	}
	if f.enum != nil && !enumHolds(f.enum, v) {
		return false
	}
	if !f.formatAccepts(v) {
		return false
	}
	for _, k := range f.keywords {
		if !k.accepts(v) {
			return false
		}
	}
	switch t {
	case strictjson.Object:
		if !f.checkObject(v) {
			return false
		}
	case strictjson.Array:
		if !f.checkArray(v) {
			return false
		}
	case strictjson.String:
		if !f.checkString(v.Text()) {
			return false
		}
	}
	return !f.combines || f.checkCombinations(v)
}

// enumHolds reports whether v equals one of values, which are strings,
// booleans and nulls.
func enumHolds(values []any, v strictjson.Node) bool {
	for _, want := range values {
		switch want := want.(type) {
		case string:
			if v.Type() == strictjson.String && v.Text() == want {
				return true
			}
		case bool:
			if v.Type() == strictjson.Boolean && v.Bool() == want {
				return true
			}
		case nil:
			if v.Type() == strictjson.Null {
				return true
			}
		}
	}
	return false
}

// formatAccepts asks the format, when there is one, with the string
// itself when it can, and otherwise with the value as jsonschema would hand
// it over.
func (f *fastSchema) formatAccepts(v strictjson.Node) bool {
	switch {
	case f.strFormat != nil:
		return v.Type() != strictjson.String || f.strFormat(v.Text())
	case f.format != nil:
		return f.format(v.Value()) == nil
	}
	return true
}

func (f *fastSchema) checkObject(obj strictjson.Node) bool {
	n := obj.Len()
	if n < f.minProps || f.maxProps >= 0 && n > f.maxProps {
		return false
	}
	if f.additional == nil && f.byName == nil {
		// Only the named members have a schema: find each of those, and
		// pass the others by.
		for _, p := range f.named {
			value, present := obj.Member(p.name)
			if !present && p.required || present && p.schema != nil && !p.schema.accepts(value) {
				return false
			}
		}
		return true
	}
	found := 0
	for name, value := range obj.Members() {
		schema := f.additional
		if i := f.lookup(name); i >= 0 {
			p := &f.named[i]
			if p.required {
				found++ // the strict parser refused duplicate names
			}
			if p.schema != nil {
				schema = p.schema
			}
		}
		if schema != nil && !schema.accepts(value) {
			return false
		}
	}
	return found == f.requiredCount
}

// lookup is the index of name in f.named, or -1.
func (f *fastSchema) lookup(name string) int {
	if f.byName != nil {
		if i, named := f.byName[name]; named {
			return i
		}
		return -1
	}
	for i := range f.named {
		if f.named[i].name == name {
			return i
		}
	}
	return -1
}

func (f *fastSchema) checkArray(arr strictjson.Node) bool {
	if n := arr.Len(); n < f.minItems || f.maxItems >= 0 && n > f.maxItems {
		return false
	}
	if f.items != nil {
		for item := range arr.Items() {
			if !f.items.accepts(item) {
				return false
			}
		}
	}
	return true
}

func (f *fastSchema) checkString(s string) bool {
	if f.minLength > 0 || f.maxLength >= 0 {
		// Lengths count code points, as the schema specification says.
		n := utf8.RuneCountInString(s)
		if n < f.minLength || f.maxLength >= 0 && n > f.maxLength {
			return false
		}
	}
	return f.pattern == nil || f.pattern.MatchString(s)
}

func (f *fastSchema) checkCombinations(v strictjson.Node) bool {
	for _, s := range f.allOf {
		if !s.accepts(v) {
			return false
		}
	}
	if f.anyOf != nil && !slices.ContainsFunc(f.anyOf, func(s *fastSchema) bool { return s.accepts(v) }) {
		return false
	}
	if f.oneOf != nil {
		matched := 0
		for _, s := range f.oneOf {
			if s.accepts(v) {
				matched++
			}
		}
		if matched != 1 {
			return false
		}
	}
	if f.not != nil && f.not.accepts(v) {
		return false
	}
	if f.ifSchema != nil {
		branch := f.elseSchema
		if f.ifSchema.accepts(v) {
			branch = f.thenSchema
		}
		if branch != nil && !branch.accepts(v) {
			return false
		}
	}
	return true
}

// loopsInPlace reports whether some path of in-place keywords ($ref, the
// combinations, the conditionals) leads from a node back to itself:
// checking a body against it would never end. Properties and items descend
// into the body, whose depth the strict parser bounds, so a loop through
// them ends; each one starts a fresh search.
func (f *fastSchema) loopsInPlace() bool {
	const visiting, done = 1, 2
	state := make(map[*fastSchema]int)
	pending := []*fastSchema{f}
	var search func(n *fastSchema) bool
	search = func(n *fastSchema) bool {
		if n == nil || state[n] == done {
			return false
		}
		if state[n] == visiting {
			return true
		}
		state[n] = visiting
		inPlace := append([]*fastSchema{n.ref, n.not, n.ifSchema, n.thenSchema, n.elseSchema}, n.allOf...)
		for _, next := range append(append(inPlace, n.anyOf...), n.oneOf...) {
			if search(next) {
				return true
			}
		}
		state[n] = done
		pending = append(pending, n.additional, n.items)
		for _, p := range n.named {
			pending = append(pending, p.schema)
		}
		return false
	}
	for len(pending) > 0 {
		n := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		if search(n) {
			return true
		}
	}
	return false
}

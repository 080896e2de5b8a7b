package strictjson

// Decoder hands a strict JSON object to a typed decoder member by member,
// with no value tree: the same grammar and rules as Parse, and the same
// first error for any document. Inside a callback, the member's or item's
// value must be consumed exactly once, by String, Number, Value, Skip,
// Object or Array.
type Decoder struct {
	p       strictParser
	depth   int         // nesting depth of the container whose value is next
	pathBuf [4]pathStep // room for the usual paths without an allocation
}

// DecodeObject walks the JSON object in data, calling member for each
// member in document order. An error member returns stops the walk and is
// returned as is; a document Parse would refuse fails with Parse's rule.
// d can be kept where it costs no allocation of its own and used for one
// document after another. A text that is not empty must be string(data):
// strings and member names without escapes are then substrings of text,
// sharing its memory instead of allocating copies.
func (d *Decoder) DecodeObject(data []byte, text string, member func(d *Decoder, name string) error) error {
	if text != "" && text != string(data) {
		panic("strictjson: DecodeObject's text is not its data")
	}
	*d = Decoder{p: strictParser{data: data, text: text}}
	d.p.path = d.pathBuf[:0]
	return d.p.document(true, func() error {
		return d.Object(func(name string) error { return member(d, name) })
	})
}

// Kind is the JSON type of the next value, judged by its first byte; 0
// when no value can start there (consuming it then reports why).
func (d *Decoder) Kind() Types {
	d.p.skipSpace()
	if d.p.pos >= len(d.p.data) {
		return 0
	}
	switch c := d.p.data[d.p.pos]; {
	case c == '{':
		return Object
	case c == '[':
		return Array
	case c == '"':
		return String
	case c == '-' || (c >= '0' && c <= '9'):
		return Number
	case c == 't' || c == 'f':
		return Boolean
	case c == 'n':
		return Null
	}
	return 0
}

// String consumes the next value, which Kind reported as a String.
func (d *Decoder) String() (string, error) {
	d.p.skipSpace()
	return d.p.string()
}

// Number consumes the next value, which Kind reported as a Number, and
// returns its text, which aliases the document.
func (d *Decoder) Number() ([]byte, error) {
	d.p.skipSpace()
	return d.p.numberText()
}

// Value consumes the next value of any type, as Parse would decode it.
func (d *Decoder) Value() (any, error) {
	return d.p.value(d.depth)
}

// Skip consumes the next value of any type, checking it as strictly as
// Parse but keeping nothing.
func (d *Decoder) Skip() error {
	switch d.Kind() {
	case Object:
		return d.Object(func(string) error { return d.Skip() })
	case Array:
		return d.Array(d.Skip)
	}
	_, err := d.p.value(d.depth)
	return err
}

// Object consumes the next value, which Kind reported as an Object,
// calling member for each member in document order.
func (d *Decoder) Object(member func(name string) error) error {
	d.p.skipSpace()
	var seen seenNames
	d.depth++
	defer func() { d.depth-- }()
	return d.p.members(d.depth, seen.add, member)
}

// Array consumes the next value, which Kind reported as an Array, calling
// item for each element in order.
func (d *Decoder) Array(item func() error) error {
	d.p.skipSpace()
	d.depth++
	defer func() { d.depth-- }()
	return d.p.items(d.depth, item)
}

// seenNames finds duplicate member names without a map for the few
// members an object usually has, and with one beyond, so that a hostile
// object of thousands of members stays linear.
type seenNames struct {
	few  [8]string
	n    int
	many map[string]bool
}

// add records name and reports whether it was already there.
func (s *seenNames) add(name string) bool {
	if s.many != nil {
		if s.many[name] {
			return true
		}
		s.many[name] = true
		return false
	}
	for _, prev := range s.few[:s.n] {
		if prev == name {
			return true
		}
	}
	if s.n < len(s.few) {
		s.few[s.n] = name
		s.n++
		return false
	}
	s.many = make(map[string]bool, 2*len(s.few))
	for _, prev := range s.few {
		s.many[prev] = true
	}
	s.many[name] = true
	return false
}

package strictjson

import (
	"encoding/json"
	"iter"
)

// Document is one strictly parsed JSON text held flat, so that a body can
// be checked without a value tree: each value is a node of one slice, in
// document order, and the slice is kept from one parse to the next. The
// text is copied once, and every string without escapes, every member name
// and every number is a slice of that copy, so that a parse of a typical
// body allocates once or not at all.
type Document struct {
	nodes []node
	path  []pathStep // the parser's path, kept so that nesting costs no allocation
}

type node struct {
	kind  Types
	count int32  // an object's members or an array's items
	end   int32  // the index just past this value's subtree
	name  string // the member name, for a member of an object
	text  string // a string's value, a number's text, or a literal
}

// firstNodes is the room a new Document starts with, enough for a token's
// header and payload: a small document then costs one allocation for its
// nodes, and a reused one none.
const firstNodes = 16

// maxKeptNodes bounds the slice a Document keeps between parses: one
// hostile body of many tiny values should not pin its memory for the
// documents parsed after it.
const maxKeptNodes = 4096

// Parse reads data with Parse's rules, and the same first error for any
// document, into d: the top level is an object.
func (d *Document) Parse(data []byte) error {
	return d.parse(data, true)
}

// ParseValue is ParseValue's rules into d: any top-level value.
func (d *Document) ParseValue(data []byte) error {
	return d.parse(data, false)
}

// ParseShared is Parse for data the caller also holds as a string: text
// must be string(data), and the document's strings are slices of it
// instead of a copy of their own.
func (d *Document) ParseShared(data []byte, text string) error {
	if text != string(data) {
		panic("strictjson: ParseShared's text is not its data")
	}
	return d.parseText(data, text, true)
}

func (d *Document) parse(data []byte, objectOnly bool) error {
	// Member names are slices of the text too: no expected names to share.
	return d.parseText(data, string(data), objectOnly)
}

func (d *Document) parseText(data []byte, text string, objectOnly bool) error {
	d.Reset()
	if cap(d.nodes) == 0 {
		d.nodes = make([]node, 0, firstNodes)
	}
	if d.scan(&strictParser{data: data, text: text}, objectOnly) {
		return nil
	}
	// The scan gives up at the first thing it does not take. The careful
	// parse, Parse's own walk, then finds the document's first error and
	// names its place, so that a refusal reads the same either way.
	d.Reset()
	return d.parseCarefully(data, text, objectOnly)
}

func (d *Document) parseCarefully(data []byte, text string, objectOnly bool) error {
	p := strictParser{data: data, text: text, path: d.path}
	err := p.document(objectOnly, func() error { return d.value(&p, 0, "") })
	d.path = p.path[:0]
	return err
}

// manyMembers is where an object's duplicate check moves from comparing
// the earlier members' names to a map, so that a hostile object of
// thousands of members stays linear.
const manyMembers = 16

// scan reads a document the careful parse would accept into d, with the
// same nodes, in one loop: no callback per value and no path kept, since
// it never reports an error. It answers false at the first byte it does
// not take, or for a document the careful parse refuses.
func (d *Document) scan(p *strictParser, objectOnly bool) bool {
	data := p.data
	if len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF {
		return false
	}
	p.skipSpace()
	if p.pos >= len(data) || (objectOnly && data[p.pos] != '{') {
		return false
	}
	var open [maxJSONDepth]int32 // the nodes of the containers the scan is inside
	var many memberSets
	depth := 0
	name := ""
values:
	for {
		p.skipSpace()
		if p.pos >= len(data) {
			return false
		}
		at := int32(len(d.nodes))
		d.nodes = append(d.nodes, node{name: name, end: at + 1})
		nd := &d.nodes[at]
		switch c := data[p.pos]; {
		case c == '{' || c == '[':
			if depth == maxJSONDepth {
				return false
			}
			nd.kind = Array
			if c == '{' {
				nd.kind = Object
			}
			open[depth] = at
			depth++
			p.pos++
			p.skipSpace()
			if p.pos < len(data) && data[p.pos] == c+2 { // '}' and ']' are two past their openers
				p.pos++
				depth--
				break
			}
			nd.count = 1
			if !d.nextName(p, at, &many, &name) {
				return false
			}
			continue values
		case c == '"':
			text, err := p.string()
			if err != nil {
				return false
			}
			nd.kind, nd.text = String, text
		case c == '-' || (c >= '0' && c <= '9'):
			start := p.pos
			if _, err := p.numberText(); err != nil {
				return false
			}
			nd.kind, nd.text = Number, p.text[start:p.pos]
		case c == 't' || c == 'f' || c == 'n':
			word, kind := "null", Null
			if c != 'n' {
				word, kind = "true", Boolean
				if c == 'f' {
					word = "false"
				}
			}
			if p.literal(word) != nil {
				return false
			}
			nd.kind, nd.text = kind, word
		default:
			return false
		}
		// The value is done: close what ends after it, up to the next
		// member or item.
		for depth > 0 {
			container := open[depth-1]
			parent := &d.nodes[container]
			p.skipSpace()
			if p.pos >= len(data) {
				return false
			}
			closing := byte(']')
			if parent.kind == Object {
				closing = '}'
			}
			switch data[p.pos] {
			case ',':
				p.pos++
				parent.count++
				if !d.nextName(p, container, &many, &name) {
					return false
				}
				continue values
			case closing:
				p.pos++
				parent.end = int32(len(d.nodes))
				depth--
			default:
				return false
			}
		}
		p.skipSpace()
		return p.pos == len(data)
	}
}

// memberSets holds the member names of each object, by node, that has
// more than manyMembers: few documents have one.
type memberSets map[int32]map[string]struct{}

// nextName reads, for the next member of the object or array at
// container, its name up to the colon, refusing a name that came before;
// an array's item has none.
func (d *Document) nextName(p *strictParser, container int32, many *memberSets, name *string) bool {
	parent := &d.nodes[container]
	if parent.kind != Object {
		*name = ""
		return true
	}
	p.skipSpace()
	if p.pos >= len(p.data) || p.data[p.pos] != '"' {
		return false
	}
	s, err := p.string()
	if err != nil || d.repeats(container, parent.count-1, s, many) {
		return false
	}
	p.skipSpace()
	if p.pos >= len(p.data) || p.data[p.pos] != ':' {
		return false
	}
	p.pos++
	*name = s
	return true
}

// repeats reports whether name is one of the earlier members of the
// object at container, and records it among them: by comparing with
// their names, or through a map in many once they are manyMembers.
func (d *Document) repeats(container, earlier int32, name string, many *memberSets) bool {
	if earlier < manyMembers {
		for i := container + 1; i < int32(len(d.nodes)); i = d.nodes[i].end {
			if d.nodes[i].name == name {
				return true
			}
		}
		return false
	}
	seen := (*many)[container]
	if seen == nil {
		if *many == nil {
			*many = make(memberSets)
		}
		seen = make(map[string]struct{}, 2*manyMembers)
		for i := container + 1; i < int32(len(d.nodes)); i = d.nodes[i].end {
			seen[d.nodes[i].name] = struct{}{}
		}
		(*many)[container] = seen
	}
	if _, dup := seen[name]; dup {
		return true
	}
	seen[name] = struct{}{}
	return false
}

// Reset empties d, letting go of the text it held.
func (d *Document) Reset() {
	clear(d.path[:cap(d.path)])
	if cap(d.nodes) > maxKeptNodes {
		d.nodes = nil
		return
	}
	clear(d.nodes)
	d.nodes = d.nodes[:0]
}

// value reads one value as strictParser.value does, with the same rules
// and errors in the same order, appending its nodes.
func (d *Document) value(p *strictParser, depth int, name string) error {
	p.skipSpace()
	if p.pos >= len(p.data) {
		return p.fail("unexpected end of JSON")
	}
	at := len(d.nodes)
	d.nodes = append(d.nodes, node{name: name})
	var err error
	switch c := p.data[p.pos]; {
	case c == '{':
		d.nodes[at].kind = Object
		var many memberSets
		repeated := func(name string) bool { return d.repeats(int32(at), d.nodes[at].count, name, &many) }
		err = p.members(depth+1, repeated, func(member string) error {
			d.nodes[at].count++
			return d.value(p, depth+1, member)
		})
	case c == '[':
		d.nodes[at].kind = Array
		err = p.items(depth+1, func() error {
			d.nodes[at].count++
			return d.value(p, depth+1, "")
		})
	case c == '"':
		d.nodes[at].kind = String
		d.nodes[at].text, err = p.string()
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.pos
		d.nodes[at].kind = Number
		if _, err = p.numberText(); err == nil {
			d.nodes[at].text = p.text[start:p.pos]
		}
	case c == 't' || c == 'f' || c == 'n':
		err = d.literal(p, at, c)
	default:
		return p.fail("invalid character")
	}
	d.nodes[at].end = int32(len(d.nodes))
	return err
}

func (d *Document) literal(p *strictParser, at int, first byte) error {
	word, kind := "null", Null
	switch first {
	case 't':
		word, kind = "true", Boolean
	case 'f':
		word, kind = "false", Boolean
	}
	d.nodes[at].kind, d.nodes[at].text = kind, word
	return p.literal(word)
}

// Root is the document's top-level value; d must hold a parsed document.
func (d *Document) Root() Node { return Node{doc: d} }

// Node is one value of a Document, valid until the Document is parsed
// again or reset.
type Node struct {
	doc *Document
	at  int32
}

func (n Node) node() *node { return &n.doc.nodes[n.at] }

// Type is the node's JSON type.
func (n Node) Type() Types { return n.node().kind }

// Text is a string's value or a number's text as written.
func (n Node) Text() string { return n.node().text }

// Bool is a boolean's value.
func (n Node) Bool() bool { return n.node().text == "true" }

// Len is the number of an object's members or an array's items.
func (n Node) Len() int { return int(n.node().count) }

// Members yields an object's members in document order.
func (n Node) Members() iter.Seq2[string, Node] {
	return func(yield func(string, Node) bool) {
		nodes := n.doc.nodes
		for i := n.at + 1; i < nodes[n.at].end; i = nodes[i].end {
			if !yield(nodes[i].name, Node{doc: n.doc, at: i}) {
				return
			}
		}
	}
}

// Items yields an array's items in order.
func (n Node) Items() iter.Seq[Node] {
	return func(yield func(Node) bool) {
		nodes := n.doc.nodes
		for i := n.at + 1; i < nodes[n.at].end; i = nodes[i].end {
			if !yield(Node{doc: n.doc, at: i}) {
				return
			}
		}
	}
}

// Member finds an object's member by name.
func (n Node) Member(name string) (Node, bool) {
	for member, value := range n.Members() {
		if member == name {
			return value, true
		}
	}
	return Node{}, false
}

// Value builds the value tree Parse would have returned for this node, for
// a caller that needs one: a refused body's report, say.
func (n Node) Value() any {
	switch nd := n.node(); nd.kind {
	case Object:
		obj := make(map[string]any, nd.count)
		for name, member := range n.Members() {
			obj[name] = member.Value()
		}
		return obj
	case Array:
		arr := make([]any, 0, nd.count)
		for item := range n.Items() {
			arr = append(arr, item.Value())
		}
		return arr
	case String:
		return nd.text
	case Number:
		return json.Number(nd.text)
	case Boolean:
		return nd.text == "true"
	}
	return nil
}

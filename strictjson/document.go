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

func (d *Document) parse(data []byte, objectOnly bool) error {
	d.Reset()
	// Member names are slices of the text too: no expected names to share.
	p := strictParser{data: data, text: string(data), path: d.path}
	err := p.document(objectOnly, func() error { return d.value(&p, 0, "") })
	d.path = p.path[:0]
	return err
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
		var seen seenNames
		err = p.members(depth+1, seen.add, func(member string) error {
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

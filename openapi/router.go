package openapi

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrNotFound is a path that no template of the document matches.
var ErrNotFound = errors.New("no operation has this path")

// MethodNotAllowedError is a path the document has, with another method.
type MethodNotAllowedError struct {
	Allow string // the path's methods, as the Allow header lists them
}

func (e *MethodNotAllowedError) Error() string {
	return "this path's operations use " + e.Allow
}

// router is a trie by path segment: a lookup walks the request's segments,
// so it costs the same with 25 operations or 2,500.
type router struct {
	root *node
}

type node struct {
	literal  map[string]*node
	variable *node // a {template} segment, whatever its name
	ops      map[string]*Operation
	allow    string
}

func newRouter() *router { return &router{root: &node{}} }

func (r *router) add(o *Operation) error {
	n := r.root
	for _, seg := range segments(o.Template) {
		if _, ok := templateVariable(seg); ok {
			if n.variable == nil {
				n.variable = &node{}
			}
			n = n.variable
			continue
		}
		if strings.ContainsAny(seg, "{}") {
			return fmt.Errorf("path segment %q mixes text and a template variable, which the gateway does not match", seg)
		}
		if n.literal == nil {
			n.literal = map[string]*node{}
		}
		child := n.literal[seg]
		if child == nil {
			child = &node{}
			n.literal[seg] = child
		}
		n = child
	}
	if n.ops == nil {
		n.ops = map[string]*Operation{}
	}
	if other, taken := n.ops[o.Method]; taken {
		return fmt.Errorf("path %s matches the same requests as operation %s (%s)", o.Template, other.Action, other.Template)
	}
	n.ops[o.Method] = o
	methods := make([]string, 0, len(n.ops))
	for m := range n.ops {
		methods = append(methods, m)
	}
	slices.Sort(methods)
	n.allow = strings.Join(methods, ", ")
	return nil
}

// Route finds the operation for a method and a path as the client sent it
// (base path included). It returns the path's segments under the base path,
// where the operation's path parameters are read from.
func (d *Document) Route(method, path string) (*Operation, []string, error) {
	rest, ok := strings.CutPrefix(path, d.BasePath)
	if !ok || (rest != "" && rest[0] != '/') {
		return nil, nil, ErrNotFound
	}
	if rest == "" {
		rest = "/"
	}
	segs := segments(rest)
	n := d.router.root.match(segs)
	if n == nil {
		return nil, nil, ErrNotFound
	}
	op, ok := n.ops[method]
	if !ok {
		return nil, nil, &MethodNotAllowedError{Allow: n.allow}
	}
	return op, segs, nil
}

// match prefers a literal segment to a template variable, and falls back
// to the variable when the literal branch leads nowhere.
func (n *node) match(segs []string) *node {
	if len(segs) == 0 {
		if n.ops == nil {
			return nil
		}
		return n
	}
	if child := n.literal[segs[0]]; child != nil {
		if found := child.match(segs[1:]); found != nil {
			return found
		}
	}
	if n.variable != nil && segs[0] != "" {
		return n.variable.match(segs[1:])
	}
	return nil
}

// segments splits an absolute path; "/" is one empty segment.
func segments(path string) []string {
	return strings.Split(strings.TrimPrefix(path, "/"), "/")
}

// templateVariable is the name in a whole-segment {name}.
func templateVariable(seg string) (string, bool) {
	if len(seg) > 2 && seg[0] == '{' && seg[len(seg)-1] == '}' && !strings.ContainsAny(seg[1:len(seg)-1], "{}") {
		return seg[1 : len(seg)-1], true
	}
	return "", false
}

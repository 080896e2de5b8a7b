package strictjson

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// requireDocumentLikeParse holds a Document to Parse and ParseValue: the
// same error, place included, and the same tree from Value.
func requireDocumentLikeParse(t *testing.T, data []byte) {
	t.Helper()
	var d Document
	for _, objectOnly := range []bool{true, false} {
		var want any
		var wantErr, gotErr error
		if objectOnly {
			m, err := Parse(data, testMemberNames)
			want, wantErr, gotErr = m, err, d.Parse(data)
			if err != nil {
				want = nil
			}
		} else {
			want, wantErr = ParseValue(data, testMemberNames)
			gotErr = d.ParseValue(data)
		}
		if !reflect.DeepEqual(gotErr, wantErr) {
			t.Fatalf("%q (object only %v): the document gave %v, Parse %v", data, objectOnly, gotErr, wantErr)
		}
		// The careful parse behind the scan must not hide a scan that
		// gives up on good documents or takes bad ones.
		var scanned, careful Document
		if took := scanned.scan(&strictParser{data: data, text: string(data)}, objectOnly); took != (wantErr == nil) {
			t.Fatalf("%q (object only %v): the scan took it: %v; Parse's error: %v", data, objectOnly, took, wantErr)
		}
		_ = careful.parseCarefully(data, string(data), objectOnly)
		if wantErr == nil && !reflect.DeepEqual(scanned.nodes, careful.nodes) {
			t.Fatalf("%q: the scan's nodes differ from the careful parse's", data)
		}
		if wantErr == nil {
			if got := d.Root().Value(); !reflect.DeepEqual(got, want) {
				t.Fatalf("%q: the document holds %#v, Parse built %#v", data, got, want)
			}
		}
	}
}

func TestDocumentNavigation(t *testing.T) {
	var d Document
	if err := d.Parse([]byte(`{"s":"x\"y","n":-1.5e3,"t":true,"f":false,"z":null,"a":[1,[2],{"k":"v"}],"o":{}}`)); err != nil {
		t.Fatal(err)
	}
	root := d.Root()
	if root.Type() != Object || root.Len() != 7 {
		t.Fatalf("root: type %v, %d members", root.Type(), root.Len())
	}
	var names []string
	for name := range root.Members() {
		names = append(names, name)
	}
	if got := strings.Join(names, ","); got != "s,n,t,f,z,a,o" {
		t.Errorf("members in order: %s", got)
	}
	checks := []struct {
		member string
		typ    Types
		text   string
	}{
		{"s", String, `x"y`}, {"n", Number, "-1.5e3"}, {"t", Boolean, "true"}, {"f", Boolean, "false"}, {"z", Null, "null"},
	}
	for _, c := range checks {
		n, ok := root.Member(c.member)
		if !ok || n.Type() != c.typ || n.Text() != c.text {
			t.Errorf("%s: found %v, type %v, text %q", c.member, ok, n.Type(), n.Text())
		}
	}
	if b, _ := root.Member("t"); !b.Bool() {
		t.Error("true reads false")
	}
	if _, ok := root.Member("missing"); ok {
		t.Error("found a member that is not there")
	}
	a, _ := root.Member("a")
	var kinds []Types
	for item := range a.Items() {
		kinds = append(kinds, item.Type())
	}
	if !reflect.DeepEqual(kinds, []Types{Number, Array, Object}) || a.Len() != 3 {
		t.Errorf("array items: %v, len %d", kinds, a.Len())
	}
}

// TestDocumentReuse parses a second document into the same Document: no
// node of the first may show through.
func TestDocumentReuse(t *testing.T) {
	var d Document
	if err := d.Parse([]byte(`{"a":[1,2,3,4,5,6],"b":{"c":"d"}}`)); err != nil {
		t.Fatal(err)
	}
	if err := d.Parse([]byte(`{"x":[]}`)); err != nil {
		t.Fatal(err)
	}
	if got := d.Root().Value(); !reflect.DeepEqual(got, map[string]any{"x": []any{}}) {
		t.Fatalf("after reuse: %#v", got)
	}
	if err := d.Parse([]byte(`{"x":`)); err == nil {
		t.Fatal("a truncated document parsed")
	}
	if err := d.Parse([]byte(`{"y":1}`)); err != nil || len(d.nodes) != 2 {
		t.Fatalf("after a failed parse: %v, %d nodes", err, len(d.nodes))
	}
}

// TestDocumentParseAllocations pins what the flat form is for: a body of
// plain strings costs one allocation (the text's copy), however many
// values it holds.
func TestDocumentParseAllocations(t *testing.T) {
	data := []byte(nestedSeed)
	var d Document
	if err := d.Parse(data); err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = d.Parse(data) }); allocs > 1 {
		t.Errorf("%v allocations per parse, want at most 1", allocs)
	}
}

// documentSeeds cover every rule, at the top level and nested.
var documentSeeds = []string{
	nestedSeed, `{}`, ` {"a" : [ ] , "b":{ }} `, `{"a":"\ud83d\ude00","b":[1,{"b":null,"c":true}],"c":false}`,
	`{"a":1,"a":2}`, `{"o":[{"k":1,"\u006b":1}]}`, "\xef\xbb\xbf{}", `{"a":-0.5e-7}`, `[]`, `"x"`, ``, `{}{}`, `{} x`,
	strings.Repeat(`{"a":`, 31) + `{}` + strings.Repeat(`}`, 31), strings.Repeat(`{"a":`, 32) + `{}` + strings.Repeat(`}`, 32),
	`{"a":` + strings.Repeat(`[`, 32) + strings.Repeat(`]`, 32) + `}`, "{\"a\":\"\xff\"}", `{"a":"\ud800"}`, "{\"a\":\"\x01\"}",
	`[1,"a",[],{}]`, `-0`, `true`, `null`, `{"a":"\u00e9","b":"plain"}`, `{"a":01}`, `{"a":1.}`, `{"a":tru}`, `{"a":[1,2`, `{"a":1,}`, `{"a" 1}`, `{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k3":3}`,
	objectOfMembers(20, ""), objectOfMembers(20, `,"k3":0`), objectOfMembers(16, `,"k15":0`), objectOfMembers(17, `,"k16":0`), `[{"a":1},{"a":2}]`,
}

// objectOfMembers is an object of n members k0, k1, ..., then tail.
func objectOfMembers(n int, tail string) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":[%d]`, i, i)
	}
	return "{" + b.String() + tail + "}"
}

func TestDocumentMatchesParse(t *testing.T) {
	for _, seed := range documentSeeds {
		requireDocumentLikeParse(t, []byte(seed))
	}
}

func FuzzDocumentMatchesParse(f *testing.F) {
	for _, seed := range documentSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(requireDocumentLikeParse)
}

// TestDocumentSharesTheText: parsed from a text the caller holds, a
// reused Document costs no allocation: its strings and member names
// without escapes are substrings of that text, not copies.
func TestDocumentSharesTheText(t *testing.T) {
	data := []byte(`{"a":"ES256","b":"key-2024-01","CustomerID":"/checkout/manage","Customer":["https://api.example.com"]}`)
	text := string(data)
	var d Document
	if err := d.ParseShared(data, text); err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = d.ParseShared(data, text) }); allocs != 0 {
		t.Errorf("a shared parse costs %v allocations, want 0", allocs)
	}
	if got, _ := d.Root().Member("CustomerID"); got.Text() != "/checkout/manage" {
		t.Errorf("CustomerID reads %q", got.Text())
	}
	defer func() {
		if recover() == nil {
			t.Error("a text other than the data was taken")
		}
	}()
	_ = d.ParseShared(data, `{"alg":"other"}`)
}

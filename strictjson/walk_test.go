package strictjson

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// walkSeeds cover every rule, at the top level and nested.
var walkSeeds = []string{
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

// rebuild decodes the document with the Decoder alone, typing each value
// by Kind, so that it can be compared with Parse's tree. With shared, its
// strings are substrings of the document's text.
func rebuild(data []byte, shared bool) (any, error) {
	text := ""
	if shared {
		text = string(data)
	}
	top := map[string]any{}
	var d Decoder
	err := d.DecodeObject(data, text, func(d *Decoder, name string) error {
		v, err := rebuildValue(d)
		top[name] = v
		return err
	})
	return top, err
}

func rebuildValue(d *Decoder) (any, error) {
	switch d.Kind() {
	case String:
		return d.String()
	case Number:
		n, err := d.Number()
		return json.Number(n), err
	case Object:
		obj := map[string]any{}
		err := d.Object(func(name string) error {
			v, err := rebuildValue(d)
			obj[name] = v
			return err
		})
		return obj, err
	case Array:
		arr := []any{}
		err := d.Array(func() error {
			v, err := rebuildValue(d)
			arr = append(arr, v)
			return err
		})
		return arr, err
	}
	return d.Value()
}

// requireWalkLikeParse holds DecodeObject to Parse: the same error, place
// included, whether each value is skipped or decoded, and the same tree.
func requireWalkLikeParse(t *testing.T, data []byte) {
	t.Helper()
	want, wantErr := Parse(data, testMemberNames)
	var skipper Decoder
	skipErr := skipper.DecodeObject(data, "", func(d *Decoder, _ string) error { return d.Skip() })
	got, gotErr := rebuild(data, false)
	gotShared, sharedErr := rebuild(data, true)
	for _, err := range []error{skipErr, gotErr, sharedErr} {
		if !reflect.DeepEqual(err, wantErr) {
			t.Fatalf("%q: walking gave %v, Parse %v", data, err, wantErr)
		}
	}
	if wantErr == nil && (!reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotShared, want)) {
		t.Fatalf("%q: walking built %#v and, sharing the text, %#v; Parse %#v", data, got, gotShared, want)
	}
}

// TestDecoderSharesTheText: strings and member names without escapes
// cost no allocation when the caller has the document as a string too.
func TestDecoderSharesTheText(t *testing.T) {
	data := []byte(`{"a":"ES256","b":"key-2024-01","CustomerID":"/checkout/manage","Customer":["https://api.example.com"]}`)
	text := string(data)
	var d Decoder
	var got []string
	collect := func(d *Decoder, _ string) error {
		if d.Kind() == Array {
			return d.Array(func() error {
				s, err := d.String()
				got = append(got, s)
				return err
			})
		}
		s, err := d.String()
		got = append(got, s)
		return err
	}
	got = make([]string, 0, 8)
	allocs := testing.AllocsPerRun(100, func() {
		got = got[:0]
		if err := d.DecodeObject(data, text, collect); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("decoding plain strings from a shared text costs %v allocations, want 0", allocs)
	}
	if want := []string{"ES256", "key-2024-01", "/checkout/manage", "https://api.example.com"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %q, want %q", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Error("a text other than the data was taken")
		}
	}()
	_ = d.DecodeObject(data, `{"alg":"other"}`, collect)
}

// requireDecodersLikeParse holds both ways of reading without a value
// tree, the Decoder and the Document, to Parse.
func requireDecodersLikeParse(t *testing.T, data []byte) {
	requireWalkLikeParse(t, data)
	requireDocumentLikeParse(t, data)
}

func TestDecodersMatchParse(t *testing.T) {
	for _, seed := range walkSeeds {
		requireDecodersLikeParse(t, []byte(seed))
	}
}

func FuzzDecodersMatchParse(f *testing.F) {
	for _, seed := range walkSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(requireDecodersLikeParse)
}

package schemas

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

func TestLookup(t *testing.T) {
	if !slices.Contains(Names(), "create_managed_session") {
		t.Fatalf("built-in schemas: %v", Names())
	}
	for _, name := range []string{"nope", "../embed", "create_managed_session.json", ""} {
		if _, err := Lookup(name); !errors.Is(err, ErrUnknown) {
			t.Errorf("Lookup(%q) = %v, want ErrUnknown", name, err)
		}
	}
}

// TestCodeLists guards the lists gen_codes.py fills from iso-codes: every
// assigned ISO 3166-1 alpha-2 code, every US subdivision (50 states, DC and
// the six outlying areas) and every Canadian province and territory.
func TestCodeLists(t *testing.T) {
	data, err := Lookup("create_managed_session")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Defs map[string]struct {
			Enum []string `json:"enum"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]struct {
		count   int
		has     []string
		hasNone []string
	}{
		"CountryCode":    {249, []string{"US", "GB", "CA", "AX", "SS", "BQ"}, []string{"UK", "EU", "XX", "USA"}},
		"USStateCode":    {57, []string{"CA", "NY", "DC", "PR", "GU", "AS", "MP", "UM", "VI"}, []string{"US-CA", "ON"}},
		"CAProvinceCode": {13, []string{"ON", "QC", "BC", "YT", "NU", "NT"}, []string{"CA", "NY"}},
	} {
		list := doc.Defs[name].Enum
		if len(list) != want.count {
			t.Errorf("%s has %d codes, want %d", name, len(list), want.count)
		}
		for _, code := range want.has {
			if !slices.Contains(list, code) {
				t.Errorf("%s lacks %s", name, code)
			}
		}
		for _, code := range want.hasNone {
			if slices.Contains(list, code) {
				t.Errorf("%s has %s", name, code)
			}
		}
	}
}

// TestFreeTextIsPlain checks that every free-text string of the built-in
// schema, one that is neither a code list nor a date, refuses control and
// bidirectional formatting characters.
func TestFreeTextIsPlain(t *testing.T) {
	data, err := Lookup("create_managed_session")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	checked := 0
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch n := v.(type) {
		case map[string]any:
			_, enumerated := n["enum"]
			_, dated := n["allOf"]
			if n["type"] == "string" && !enumerated && !dated {
				checked++
				if n["plainText"] != true {
					t.Errorf("%s is free text without \"plainText\": true", path)
				}
			}
			for name, item := range n {
				walk(path+"/"+name, item)
			}
		case []any:
			for _, item := range n {
				walk(path+"/[]", item)
			}
		}
	}
	walk("#", doc)
	if checked < 10 {
		t.Fatalf("only %d free-text strings found", checked)
	}
}

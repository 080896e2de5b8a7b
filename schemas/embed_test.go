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

package signedrequest

import (
	"net/url"
	"testing"
)

func TestQueryBinding(t *testing.T) {
	cases := []struct {
		name   string
		query  string
		claim  map[string]queryClaim
		hasQ   bool
		accept bool
	}{
		{"no query, no claim", "", nil, false, true},
		{"no query, empty claim", "", map[string]queryClaim{}, true, true},
		{"no query, claim names one", "", map[string]queryClaim{"a": {values: []string{"1"}}}, true, false},
		{"query, no claim", "a=1", nil, false, false},
		{"string matches", "a=1", map[string]queryClaim{"a": {values: []string{"1"}}}, true, true},
		{"string for a repeated name, the last value", "a=1&a=2", map[string]queryClaim{"a": {values: []string{"2"}}}, true, false},
		{"string for a repeated name, the first value", "a=1&a=2", map[string]queryClaim{"a": {values: []string{"1"}}}, true, false},
		{"array of one for a single value", "a=1", map[string]queryClaim{"a": {values: []string{"1"}, every: true}}, true, true},
		{"array in order", "a=1&a=2", map[string]queryClaim{"a": {values: []string{"1", "2"}, every: true}}, true, true},
		{"array out of order", "a=1&a=2", map[string]queryClaim{"a": {values: []string{"2", "1"}, every: true}}, true, false},
		{"array missing a value", "a=1&a=2", map[string]queryClaim{"a": {values: []string{"1"}, every: true}}, true, false},
		{"extra name in claim", "a=1", map[string]queryClaim{"a": {values: []string{"1"}}, "b": {values: []string{"2"}}}, true, false},
		{"name missing from claim", "a=1&b=2", map[string]queryClaim{"a": {values: []string{"1"}}}, true, false},
		{"escaped value", "q=a%20b", map[string]queryClaim{"q": {values: []string{"a b"}}}, true, true},
		{"empty value", "a=", map[string]queryClaim{"a": {values: []string{""}}}, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			rej := checkQueryBinding(&Claims{queryParams: tc.claim, hasQuery: tc.hasQ}, q)
			if (rej == nil) != tc.accept {
				t.Fatalf("accept = %v, want %v (%v)", rej == nil, tc.accept, rej)
			}
		})
	}
}

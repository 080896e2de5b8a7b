package openapi

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestCheckParameters(t *testing.T) {
	d, err := Load([]byte(doc30(`
  /items/{id}/{n}:
    get:
      operationId: GetItem
      parameters:
        - {name: id, in: path, required: true, schema: {type: string, format: uuid}}
        - {name: n, in: path, required: true, schema: {type: integer, minimum: 1}}
        - {name: PageSize, in: query, schema: {type: integer, minimum: 1, maximum: 100}}
        - {name: Sort, in: query, required: true, schema: {type: string, enum: [ASC, DESC]}}
        - {name: Since, in: query, schema: {type: string, format: date}}
        - {name: Ratio, in: query, schema: {type: number, exclusiveMinimum: true, minimum: 0}}
        - {name: Live, in: query, schema: {type: boolean}}
        - {name: Tags, in: query, schema: {type: array, items: {type: integer}, maxItems: 2}}
        - {name: Ids, in: query, explode: false, schema: {type: array, items: {type: string}}}
        - {name: Note, in: query, schema: {type: string, nullable: true, maxLength: 3}}
        - {name: X-Tags, in: header, schema: {type: array, items: {type: integer}}, explode: true}
        - {name: X-Trace, in: header, required: true, schema: {type: string, pattern: '^[a-f0-9]{8}$'}}
        - {name: Accept, in: header, required: true, schema: {type: string}}
        - {name: session, in: cookie, required: true, schema: {type: string}}
      responses: {'200': {description: ok}}
`)), "")
	if err != nil {
		t.Fatal(err)
	}
	const goodID = "0b7e4f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
	okHeader := http.Header{"X-Trace": {"deadbeef"}}
	for _, tc := range []struct {
		name   string
		path   string
		query  string
		header http.Header
		want   map[string][]string
	}{
		{"all valid", "/v2/items/" + goodID + "/3", "Sort=ASC&PageSize=10&Since=2024-04-16&Ratio=0.5&Live=true&Tags=1&Tags=2&Ids=a,b&Note=abc", okHeader, nil},
		{"header array, comma separated", "/v2/items/" + goodID + "/1", "Sort=ASC", http.Header{"X-Trace": {"deadbeef"}, "X-Tags": {"1,2"}}, nil},
		{"header array item", "/v2/items/" + goodID + "/1", "Sort=ASC", http.Header{"X-Trace": {"deadbeef"}, "X-Tags": {"1,x"}}, map[string][]string{"X-Tags": {"every item must be an integer"}}},
		{"only the required ones", "/v2/items/" + goodID + "/1", "Sort=DESC", okHeader, nil},
		{"integer from text", "/v2/items/" + goodID + "/1", "Sort=ASC&PageSize=abc", okHeader, map[string][]string{"PageSize": {"must be an integer"}}},
		{"every violation at once", "/v2/items/not-a-uuid/0", "PageSize=101&Sort=UP&Since=2023-02-29&Ratio=0&Live=yes&Tags=1&Tags=x&Extra=1", http.Header{"X-Trace": {"XYZ"}}, map[string][]string{
			"id":       {"must be a valid uuid"},
			"n":        {"must be at least 1"},
			"PageSize": {"must be at most 100"},
			"Sort":     {"must be one of ASC, DESC"},
			"Since":    {"must be a valid date"},
			"Ratio":    {"must be more than 0"},
			"Live":     {"must be a boolean"},
			"Tags":     {"every item must be an integer"},
			"Extra":    {"is not a parameter of this operation"},
			"X-Trace":  {"must match the pattern ^[a-f0-9]{8}$"},
		}},
		{"required missing", "/v2/items/" + goodID + "/1", "", nil, map[string][]string{"Sort": {"is required"}, "X-Trace": {"is required"}}},
		{"repeated scalar", "/v2/items/" + goodID + "/1", "Sort=ASC&Sort=DESC", okHeader, map[string][]string{"Sort": {"must be given once"}}},
		{"array too long", "/v2/items/" + goodID + "/1", "Sort=ASC&Tags=1&Tags=2&Tags=3", okHeader, map[string][]string{"Tags": {"must have at most 2 items"}}},
		{"number must be decimal", "/v2/items/" + goodID + "/1", "Sort=ASC&Ratio=0x10", okHeader, map[string][]string{"Ratio": {"must be a number"}}},
		{"long unknown name is clipped", "/v2/items/" + goodID + "/1", "Sort=ASC&" + strings.Repeat("q", 100) + "=1", okHeader, map[string][]string{strings.Repeat("q", 64) + "...": {"is not a parameter of this operation"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, segs, err := d.Route("GET", tc.path)
			if err != nil {
				t.Fatal(err)
			}
			query, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			got := op.CheckParameters(segs, query, tc.header)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

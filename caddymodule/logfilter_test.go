package caddymodule

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// documentedFilterFields are the field filters of the example Caddyfile's
// default log ("request>headers>Api-Signature delete", ...), read once by
// TestMain: the tests log through exactly what operators are told to use.
var documentedFilterFields []string

// readDocumentedFilterFields reads the field lines of the first
// "format filter { ... }" block inside "log default { ... }".
func readDocumentedFilterFields(caddyfilePath string) ([]string, error) {
	data, err := os.ReadFile(caddyfilePath)
	if err != nil {
		return nil, err
	}
	_, logBlock, ok := strings.Cut(string(data), "log default {")
	if !ok {
		return nil, fmt.Errorf("%s has no \"log default\" block", caddyfilePath)
	}
	_, filterBlock, ok := strings.Cut(logBlock, "format filter {")
	if !ok {
		return nil, fmt.Errorf("%s: its default log has no \"format filter\"", caddyfilePath)
	}
	filterBlock, _, _ = strings.Cut(filterBlock, "}")
	var fields []string
	for line := range strings.SplitSeq(filterBlock, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.Contains(line, "{"):
			return nil, errors.New("the documented filter has a nested block, which this reader does not follow")
		default:
			fields = append(fields, line)
		}
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("%s: the default log's filter is empty", caddyfilePath)
	}
	return fields, nil
}

// documentedFilter is the documented "format filter" block, indented by
// indent, wrapping JSON, with extra field lines (a custom signature_header)
// after the documented ones.
func documentedFilter(indent string, extraFields ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%sformat filter {\n%s\twrap json\n", indent, indent)
	for _, field := range append(append([]string(nil), documentedFilterFields...), extraFields...) {
		fmt.Fprintf(&b, "%s\t%s\n", indent, field)
	}
	fmt.Fprintf(&b, "%s}", indent)
	return b.String()
}

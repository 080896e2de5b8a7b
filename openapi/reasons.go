package openapi

import (
	"slices"
	"strings"

	"github.com/checkoutgw/checkoutgw/jsonbody"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// reasonFor words a parameter's violations, naming the rule and its limit,
// never the value sent.
func reasonFor(root *jsonschema.ValidationError) string {
	var reasons []string
	jsonbody.EachLeaf(root, func(e *jsonschema.ValidationError) {
		if why := jsonbody.Describe(e); !slices.Contains(reasons, why) {
			reasons = append(reasons, why)
		}
	})
	return strings.Join(reasons, "; ")
}

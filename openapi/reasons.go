package openapi

import (
	"strings"

	"github.com/checkoutgw/checkoutgw/jsonbody"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// reasonFor words a parameter's violations, naming the rule and its limit,
// never the value sent.
func reasonFor(root *jsonschema.ValidationError) string {
	var reasons []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		why := jsonbody.Describe(e)
		for _, seen := range reasons {
			if seen == why {
				return
			}
		}
		reasons = append(reasons, why)
	}
	walk(root)
	return strings.Join(reasons, "; ")
}

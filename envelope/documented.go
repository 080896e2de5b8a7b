package envelope

import (
	"slices"

	"github.com/checkoutgw/checkoutgw/strictjson"
)

// members are the envelope's members as the provider's current document
// defines them; Type, Instance, Action and Detail are required.
var members = []string{"Type", "Instance", "Action", "Detail", "Extensions", "RequestExtension", "DenyExtension"}

var memberNames = strictjson.NewMemberNames(append(slices.Clone(members),
	"Request", "Features", "Body", "Field", "Reason", "Description", "Principal", "ID")...)

// IsDocumented says whether body is exactly an error envelope: a strict
// JSON object of the documented members, names case-sensitive, each of its
// documented type, nothing else. An upstream answer passes through only
// then: any other member could carry what the upstream echoed from the
// request.
func IsDocumented(body []byte) bool {
	doc, err := strictjson.Parse(body, memberNames)
	if err != nil {
		return false
	}
	for name := range doc {
		if !slices.Contains(members, name) {
			return false
		}
	}
	typ, _ := doc["Type"].(string)
	instance, _ := doc["Instance"].(string)
	_, hasAction := doc["Action"].(string)
	_, hasDetail := doc["Detail"].(string)
	return slices.Contains(Types, typ) && instance != "" && hasAction && hasDetail &&
		optional(doc, "Extensions", isExtensions) &&
		optional(doc, "RequestExtension", isRequestExtension) &&
		optional(doc, "DenyExtension", isDenyExtension)
}

func optional(doc map[string]any, name string, valid func(any) bool) bool {
	v, present := doc[name]
	return !present || valid(v)
}

// isExtensions: optional Request and Features, each mapping names to lists
// of reasons.
func isExtensions(v any) bool {
	ext, ok := v.(map[string]any)
	if !ok {
		return false
	}
	for name, lists := range ext {
		if name != "Request" && name != "Features" || !isReasonLists(lists) {
			return false
		}
	}
	return true
}

func isReasonLists(v any) bool {
	lists, ok := v.(map[string]any)
	if !ok {
		return false
	}
	for _, list := range lists {
		if !isStrings(list) {
			return false
		}
	}
	return true
}

// isRequestExtension: an optional Body, a list of {Field, Reason,
// Description} with Reason and Description required.
func isRequestExtension(v any) bool {
	ext, ok := v.(map[string]any)
	if !ok {
		return false
	}
	for name, body := range ext {
		if name != "Body" || !isObjects(body, []string{"Reason", "Description"}, []string{"Field"}, nil) {
			return false
		}
	}
	return true
}

// isDenyExtension: a list of {Reason, Description, Principal{ID, Type}}.
func isDenyExtension(v any) bool {
	return isObjects(v, []string{"Reason", "Description"}, nil, map[string]func(any) bool{
		"Principal": func(p any) bool { return isObjects([]any{p}, []string{"ID", "Type"}, nil, nil) },
	})
}

// isObjects says whether v is a list of objects whose members are the
// required strings, optional strings, and required members of their own
// shape, nothing else.
func isObjects(v any, required, optionalStrings []string, nested map[string]func(any) bool) bool {
	items, ok := v.([]any)
	if !ok {
		return false
	}
	for _, item := range items {
		obj, ok := item.(map[string]any)
		if !ok || len(obj) > len(required)+len(optionalStrings)+len(nested) {
			return false
		}
		for name, value := range obj {
			valid, isNested := nested[name]
			_, isString := value.(string)
			switch {
			case isNested && !valid(value):
				return false
			case !isNested && (!isString || !slices.Contains(required, name) && !slices.Contains(optionalStrings, name)):
				return false
			}
		}
		for _, name := range required {
			if _, ok := obj[name]; !ok {
				return false
			}
		}
		for name := range nested {
			if _, ok := obj[name]; !ok {
				return false
			}
		}
	}
	return true
}

func isStrings(v any) bool {
	list, ok := v.([]any)
	if !ok {
		return false
	}
	for _, s := range list {
		if _, ok := s.(string); !ok {
			return false
		}
	}
	return true
}

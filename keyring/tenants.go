package keyring

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Tenants maps the hex SHA-256 of an API key to the kids registered for it.
// It holds hashes only, never API keys.
type Tenants map[string][]string

// ParseTenants reads a JSON object of API key hash to kids, and refuses a
// name that is not a lowercase hex SHA-256 or a hash without kids.
func ParseTenants(data []byte) (Tenants, error) {
	var tenants Tenants
	if err := json.Unmarshal(data, &tenants); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, fmt.Errorf(`must be a JSON object mapping each API key's lowercase hex SHA-256 to a list of kids, like {"3f0a…64 hex digits…": ["shop-1"]}; found %s where %s belongs`, typeErr.Value, tenantsPart(typeErr))
		}
		return nil, fmt.Errorf("not a JSON object of hash to kids: %w", err)
	}
	for hash, kids := range tenants {
		if len(hash) != sha256.Size*2 || strings.ToLower(hash) != hash || !isHex(hash) {
			return nil, errors.New("every name must be the lowercase hex SHA-256 of an API key (64 characters)")
		}
		if len(kids) == 0 || slices.Contains(kids, "") {
			return nil, errors.New("every API key hash needs at least one kid")
		}
	}
	return tenants, nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// Kids returns the kids that may sign for apiKey; false if it is not
// registered.
func (t Tenants) Kids(apiKey string) ([]string, bool) {
	sum := sha256.Sum256([]byte(apiKey))
	kids, ok := t[hex.EncodeToString(sum[:])]
	return kids, ok
}

// tenantsPart names the part of the api_keys document a type error is in.
func tenantsPart(err *json.UnmarshalTypeError) string {
	if err.Type != nil && err.Type.Kind() == reflect.Slice {
		return "a list of kids"
	}
	return "the object"
}

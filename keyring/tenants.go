package keyring

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/checkoutgw/checkoutgw/ratelimit"
)

// Tenants maps the hex SHA-256 of an API key to its tenant. It holds hashes
// only, never API keys.
type Tenants map[string]Tenant

// Tenant is what the api_keys file says of one API key: the kids that may
// sign for it and, optionally, its own rate limit.
type Tenant struct {
	Kids []string
	// RateLimit replaces the handler's rate_limit for this tenant; nil
	// keeps the handler's.
	RateLimit *ratelimit.Limit
}

// tenantObject is the object form of an api_keys entry.
type tenantObject struct {
	Kids      []string `json:"kids"`
	RateLimit *string  `json:"rate_limit"`
	Burst     *int     `json:"burst"`
}

// ParseTenants reads a JSON object of API key hash to either a list of kids
// or an object {"kids": [...], "rate_limit": "<n>/<period>", "burst": <b>}.
// It refuses a name that is not a lowercase hex SHA-256, a hash without
// kids, unknown members and limits that are not valid; an error names the
// entry by its hash's first 8 hex digits.
func ParseTenants(data []byte) (Tenants, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, fmt.Errorf(`must be a JSON object mapping each API key's lowercase hex SHA-256 to a list of kids, like {"3f0a…64 hex digits…": ["shop-1"]}; found %s where the object belongs`, typeErr.Value)
		}
		return nil, fmt.Errorf("not a JSON object of hash to kids: %w", err)
	}
	tenants := make(Tenants, len(raw))
	for _, hash := range slices.Sorted(maps.Keys(raw)) {
		if len(hash) != sha256.Size*2 || strings.ToLower(hash) != hash || !isHex(hash) {
			return nil, errors.New("every name must be the lowercase hex SHA-256 of an API key (64 characters)")
		}
		tenant, err := parseTenant(raw[hash])
		if err != nil {
			return nil, fmt.Errorf("API key %s…: %w", hash[:8], err)
		}
		tenants[hash] = tenant
	}
	return tenants, nil
}

// parseTenant reads one entry, in either form.
func parseTenant(data json.RawMessage) (Tenant, error) {
	var tenant Tenant
	switch trimmed := bytes.TrimSpace(data); {
	case bytes.HasPrefix(trimmed, []byte("[")):
		if err := json.Unmarshal(trimmed, &tenant.Kids); err != nil {
			return Tenant{}, fmt.Errorf("the list of kids: %w", err)
		}
	case bytes.HasPrefix(trimmed, []byte("{")):
		var obj tenantObject
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&obj); err != nil {
			return Tenant{}, fmt.Errorf(`an object takes only "kids", "rate_limit" and "burst": %w`, err)
		}
		limit, err := obj.limit()
		if err != nil {
			return Tenant{}, err
		}
		tenant = Tenant{Kids: obj.Kids, RateLimit: limit}
	default:
		return Tenant{}, fmt.Errorf(`found %s where a list of kids belongs, or an object like {"kids": ["shop-1"], "rate_limit": "100/1m", "burst": 20}`, jsonKind(trimmed))
	}
	if len(tenant.Kids) == 0 || slices.Contains(tenant.Kids, "") {
		return Tenant{}, errors.New("every API key hash needs at least one kid")
	}
	return tenant, nil
}

// limit is the object's rate-limit override, nil without one; burst
// defaults to the rate, as in the Caddyfile.
func (obj tenantObject) limit() (*ratelimit.Limit, error) {
	if obj.RateLimit == nil {
		if obj.Burst != nil {
			return nil, errors.New(`"burst" needs "rate_limit"`)
		}
		return nil, nil
	}
	rate, period, err := ratelimit.ParseRate(*obj.RateLimit)
	if err != nil {
		return nil, fmt.Errorf(`"rate_limit": %w`, err)
	}
	limit := &ratelimit.Limit{Rate: rate, Period: period, Burst: rate}
	if obj.Burst != nil {
		if *obj.Burst < 1 {
			return nil, fmt.Errorf(`"burst": %d is not a positive whole number`, *obj.Burst)
		}
		limit.Burst = *obj.Burst
	}
	return limit, nil
}

// jsonKind names the kind of a JSON value that is neither array nor object.
func jsonKind(value []byte) string {
	switch {
	case bytes.HasPrefix(value, []byte(`"`)):
		return "string"
	case bytes.Equal(value, []byte("null")):
		return "null"
	case bytes.Equal(value, []byte("true")), bytes.Equal(value, []byte("false")):
		return "bool"
	}
	return "number"
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// Lookup returns apiKey's tenant; false if it is not registered.
func (t Tenants) Lookup(apiKey string) (Tenant, bool) {
	sum := sha256.Sum256([]byte(apiKey))
	tenant, ok := t[hex.EncodeToString(sum[:])]
	return tenant, ok
}

// Kids returns the kids that may sign for apiKey; false if it is not
// registered.
func (t Tenants) Kids(apiKey string) ([]string, bool) {
	tenant, ok := t.Lookup(apiKey)
	return tenant.Kids, ok
}

// equal says whether two tenants bind the same kids with the same limit.
func (tenant Tenant) equal(other Tenant) bool {
	if !slices.Equal(tenant.Kids, other.Kids) || (tenant.RateLimit == nil) != (other.RateLimit == nil) {
		return false
	}
	return tenant.RateLimit == nil || *tenant.RateLimit == *other.RateLimit
}

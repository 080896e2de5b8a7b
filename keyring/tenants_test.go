package keyring

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/checkoutgw/checkoutgw/ratelimit"
)

func TestParseTenants(t *testing.T) {
	sum := sha256.Sum256([]byte("ak_a_secret"))
	hash := hex.EncodeToString(sum[:])
	tests := []struct {
		name string
		doc  string
		why  string // part of the error; empty when accepted
	}{
		{"one tenant", `{"` + hash + `":["business-a"]}`, ""},
		{"not an object", `["business-a"]`, "must be a JSON object mapping each API key's lowercase hex SHA-256 to a list of kids"},
		{"uppercase hash", `{"` + strings.ToUpper(hash) + `":["a"]}`, "lowercase hex SHA-256"},
		{"short hash", `{"abc":["a"]}`, "lowercase hex SHA-256"},
		{"no kids", `{"` + hash + `":[]}`, "at least one kid"},
		{"empty kid", `{"` + hash + `":[""]}`, "at least one kid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tenants, err := ParseTenants([]byte(tc.doc))
			if tc.why != "" {
				if err == nil || !strings.Contains(err.Error(), tc.why) {
					t.Fatalf("got %v, want an error about %q", err, tc.why)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if kids, ok := tenants.Kids("ak_a_secret"); !ok || len(kids) != 1 || kids[0] != "business-a" {
				t.Fatalf("Kids = %v %v", kids, ok)
			}
			if _, ok := tenants.Kids("ak_guess"); ok {
				t.Fatal("an unregistered API key has kids")
			}
		})
	}
}

// TestParseTenantOverrides: the object form, alone or mixed with lists, and
// every way it can be wrong, each error naming the entry by hash prefix.
func TestParseTenantOverrides(t *testing.T) {
	hashA, hashB := sha256Hex("ak_a_secret"), sha256Hex("ak_b_secret")
	entry := func(v string) string { return `{"` + hashA + `":` + v + `,"` + hashB + `":["business-b"]}` }
	tests := []struct {
		name  string
		entry string
		limit *ratelimit.Limit
		why   string // part of the error; empty when accepted
	}{
		{"kids only", `{"kids":["business-a"]}`, nil, ""},
		{"rate, burst by default", `{"kids":["business-a"],"rate_limit":"100/1m"}`, &ratelimit.Limit{Rate: 100, Period: time.Minute, Burst: 100}, ""},
		{"rate and burst", `{"kids":["business-a"],"rate_limit":"100/1m","burst":20}`, &ratelimit.Limit{Rate: 100, Period: time.Minute, Burst: 20}, ""},
		{"unknown member", `{"kids":["business-a"],"rate":"100/1m"}`, nil, `unknown field "rate"`},
		{"no kids", `{"rate_limit":"100/1m"}`, nil, "at least one kid"},
		{"zero rate", `{"kids":["business-a"],"rate_limit":"0/1m"}`, nil, `"rate_limit": "0/1m" is not <n>/<period>`},
		{"negative rate", `{"kids":["business-a"],"rate_limit":"-5/1m"}`, nil, `"rate_limit": "-5/1m"`},
		{"no period", `{"kids":["business-a"],"rate_limit":"100"}`, nil, `"rate_limit": "100"`},
		{"rate not a string", `{"kids":["business-a"],"rate_limit":100}`, nil, "cannot unmarshal number"},
		{"zero burst", `{"kids":["business-a"],"rate_limit":"100/1m","burst":0}`, nil, `"burst": 0 is not a positive`},
		{"negative burst", `{"kids":["business-a"],"rate_limit":"100/1m","burst":-1}`, nil, `"burst": -1`},
		{"fractional burst", `{"kids":["business-a"],"rate_limit":"100/1m","burst":1.5}`, nil, "cannot unmarshal number 1.5"},
		{"burst without rate", `{"kids":["business-a"],"burst":5}`, nil, `"burst" needs "rate_limit"`},
		{"neither list nor object", `"business-a"`, nil, "found string where a list of kids belongs, or an object"},
		{"number", `7`, nil, "found number where a list of kids belongs"},
		{"null", `null`, nil, "found null where a list of kids belongs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tenants, err := ParseTenants([]byte(entry(tc.entry)))
			if tc.why != "" {
				if err == nil || !strings.Contains(err.Error(), tc.why) || !strings.Contains(err.Error(), "API key "+hashA[:8]+"…") {
					t.Fatalf("got %v, want an error about %q naming %s…", err, tc.why, hashA[:8])
				}
				if strings.Contains(err.Error(), hashA) {
					t.Fatal("the error names the whole hash")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a, _ := tenants.Lookup("ak_a_secret")
			if !slices.Equal(a.Kids, []string{"business-a"}) || !reflect.DeepEqual(a.RateLimit, tc.limit) {
				t.Fatalf("tenant A = %+v %+v", a, a.RateLimit)
			}
			if b, _ := tenants.Lookup("ak_b_secret"); b.RateLimit != nil || !slices.Equal(b.Kids, []string{"business-b"}) {
				t.Fatalf("tenant B in the list form = %+v", b)
			}
		})
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestTenantFileOverrideReload: a reload applies a changed override, a
// broken edit keeps the last good one, and Status shows it by hash prefix.
func TestTenantFileOverrideReload(t *testing.T) {
	hash := sha256Hex("ak_a_secret")
	doc := func(rate string) []byte {
		return []byte(`{"` + hash + `":{"kids":["business-a"],"rate_limit":"` + rate + `"}}`)
	}
	tf, err := NewTenantFile("api_keys.json", doc("10/1m"), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	rateOf := func() int {
		tenant, _ := tf.Lookup("ak_a_secret")
		return tenant.RateLimit.Rate
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tf.Reload(doc("20/1m"), nil))
	if rateOf() != 20 {
		t.Fatalf("after the edit the rate is %d, want 20", rateOf())
	}
	err = tf.Reload(doc("0/1m"), nil)
	if err == nil || !strings.Contains(err.Error(), "api_keys.json") || !strings.Contains(err.Error(), hash[:8]+"…") || strings.Contains(err.Error(), hash) {
		t.Fatalf("a broken override: %v; want an error naming the file and the hash prefix only", err)
	}
	if rateOf() != 20 {
		t.Fatalf("after a broken edit the rate is %d, want the last good 20", rateOf())
	}
	st := tf.Status()
	if len(st.Bindings) != 1 || st.Bindings[0].APIKey != hash[:8] || *st.Bindings[0].RateLimit != (RateLimitOverride{Rate: 20, Period: "1m0s", Burst: 20}) {
		t.Fatalf("Status = %+v", st.Bindings)
	}
}

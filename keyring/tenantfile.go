package keyring

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// TenantFile is an api_keys file's last good bindings, replaced whole when
// the file changes.
type TenantFile struct {
	path    string
	current atomic.Pointer[Tenants]
	logger  *zap.Logger
	metrics Metrics
	health
}

// Binding is one API key's kids and rate-limit override for the control
// plane: the key is named by the first 8 hex digits of its hash, enough to
// tell keys apart and too few to find one.
type Binding struct {
	APIKey    string             `json:"api_key_sha256_prefix"`
	Kids      []string           `json:"kids"`
	RateLimit *RateLimitOverride `json:"rate_limit,omitempty"`
}

// RateLimitOverride is a tenant's own rate limit as the control plane shows
// it.
type RateLimitOverride struct {
	Rate   int    `json:"rate"`
	Period string `json:"period"`
	Burst  int    `json:"burst"`
}

// TenantStatus is what the control plane shows of an api_keys file.
type TenantStatus struct {
	Source      string    `json:"source"`
	Bindings    []Binding `json:"bindings"`
	LoadedAt    time.Time `json:"loaded_at,omitzero"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastResult  string    `json:"last_result,omitempty"`
}

// NewTenantFile reads the file's first contents; a content that is not
// valid is an error.
func NewTenantFile(path string, data []byte, logger *zap.Logger, metrics Metrics) (*TenantFile, error) {
	if metrics == nil {
		metrics = noMetrics{}
	}
	tenants, err := ParseTenants(data)
	if err != nil {
		return nil, fmt.Errorf("api_keys %s: %w", path, err)
	}
	tf := &TenantFile{path: path, logger: logger, metrics: metrics}
	tf.current.Store(&tenants)
	tf.record(nil, true)
	return tf, nil
}

// Kids returns the kids that may sign for apiKey; false if it is not
// registered.
func (tf *TenantFile) Kids(apiKey string) ([]string, bool) {
	return (*tf.current.Load()).Kids(apiKey)
}

// Lookup returns apiKey's tenant as the file says now; false if it is not
// registered.
func (tf *TenantFile) Lookup(apiKey string) (Tenant, bool) {
	return (*tf.current.Load()).Lookup(apiKey)
}

// Reload takes the file's new contents, or the error reading it. A content
// that does not parse or binds no API key at all (most often a write
// caught half-way) is refused: the last good bindings and rate-limit
// overrides stay, and the refusal is logged at Error and counted.
func (tf *TenantFile) Reload(data []byte, readErr error) error {
	err := readErr
	if err != nil {
		err = failed(CauseRead, err)
	} else {
		var tenants Tenants
		tenants, err = ParseTenants(data)
		switch {
		case err != nil:
			err = failed(CauseParse, err)
		case len(tenants) == 0:
			err = failed(CauseEmpty, errors.New("the file binds no API key"))
		default:
			old := tf.current.Swap(&tenants)
			if tf.record(nil, !sameBindings(*old, tenants)) {
				tf.logger.Info("api_keys file readable again", zap.String("source", tf.path))
			}
			tf.metrics.SetLastRefresh("api_keys", time.Now())
			tf.logger.Info("api_keys loaded", zap.String("source", tf.path), zap.Int("api_keys", len(tenants)))
			return nil
		}
	}
	tf.record(err, false)
	tf.metrics.CountRefreshFailure("api_keys", CauseOf(err))
	tf.logger.Error("api_keys change refused; keeping the last good bindings", zap.String("source", tf.path), zap.Error(err), zap.Int("api_keys_kept", len(*tf.current.Load())))
	return fmt.Errorf("api_keys %s: %w", tf.path, err)
}

func sameBindings(a, b Tenants) bool {
	if len(a) != len(b) {
		return false
	}
	for hash, tenant := range a {
		if other, ok := b[hash]; !ok || !tenant.equal(other) {
			return false
		}
	}
	return true
}

// Status lists the bindings and overrides, each API key by its hash's
// first 8 hex digits.
func (tf *TenantFile) Status() TenantStatus {
	st := TenantStatus{Source: tf.path, Bindings: []Binding{}}
	for hash, tenant := range *tf.current.Load() {
		binding := Binding{APIKey: hash[:8], Kids: slices.Clone(tenant.Kids)}
		if l := tenant.RateLimit; l != nil {
			binding.RateLimit = &RateLimitOverride{Rate: l.Rate, Period: l.Period.String(), Burst: l.Burst}
		}
		st.Bindings = append(st.Bindings, binding)
	}
	slices.SortFunc(st.Bindings, func(x, y Binding) int { return strings.Compare(x.APIKey, y.APIKey) })
	var ks SourceStatus
	tf.fill(&ks)
	st.LoadedAt, st.LastAttempt, st.LastResult = ks.LoadedAt, ks.LastAttempt, ks.LastResult
	return st
}

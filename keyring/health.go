package keyring

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// Causes of a failed refresh, the fixed set the metrics count by.
const (
	CauseTimeout      = "timeout"
	CauseNetwork      = "network"
	CauseStatus       = "status"
	CauseTooLarge     = "too_large"
	CauseRead         = "read"
	CauseParse        = "parse"
	CauseEmpty        = "empty"
	CauseDuplicateKid = "duplicate_kid"
)

// RefreshError is a refresh that failed, with its cause for the metrics.
type RefreshError struct {
	Cause string
	Err   error
}

func (e *RefreshError) Error() string { return e.Err.Error() }
func (e *RefreshError) Unwrap() error { return e.Err }

func failed(cause string, err error) error { return &RefreshError{Cause: cause, Err: err} }

// CauseOf names why a refresh failed: one of the Cause constants.
func CauseOf(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return CauseTimeout
	}
	var re *RefreshError
	if errors.As(err, &re) {
		return re.Cause
	}
	return CauseNetwork
}

// KeyInfo names a trusted key for the control plane: never its material.
type KeyInfo struct {
	Kid string `json:"kid"`
	Alg string `json:"alg"`
}

// SourceStatus is what the control plane shows of one key source.
type SourceStatus struct {
	Kind        string    `json:"kind"`   // file or url
	Source      string    `json:"source"` // the path, or the URL without credentials
	Keys        []KeyInfo `json:"keys"`
	LoadedAt    time.Time `json:"loaded_at,omitzero"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastResult  string    `json:"last_result,omitempty"` // "ok" or why the last attempt failed
}

// health is a source's record of its refreshes.
type health struct {
	mu          sync.Mutex
	loadedAt    time.Time
	lastAttempt time.Time
	lastErr     error
	attempted   bool
}

// record notes one attempt; changed says the keys were replaced. It
// reports whether the source was failing before a success: a recovery.
func (h *health) record(err error, changed bool) (recovered bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	recovered = err == nil && h.lastErr != nil
	h.lastAttempt, h.lastErr, h.attempted = now, err, true
	if changed {
		h.loadedAt = now
	}
	return recovered
}

func (h *health) fill(st *SourceStatus) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st.LoadedAt, st.LastAttempt = h.loadedAt, h.lastAttempt
	switch {
	case !h.attempted:
	case h.lastErr != nil:
		st.LastResult = h.lastErr.Error()
	default:
		st.LastResult = "ok"
	}
}

// Package ratelimit counts requests per identity against a limit of n per
// period with a burst: in memory for one gateway, or in Redis (GCRA) for
// every gateway that names the same server. It knows nothing of Caddy or of
// what an identity is.
package ratelimit

import (
	"context"
	"errors"
	"time"
)

// Limit lets Rate requests per Period through, and up to Burst at once.
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// Validate says what is wrong with the limit, if anything.
func (l Limit) Validate() error {
	switch {
	case l.Rate < 1:
		return errors.New("the rate must be at least 1")
	case l.Period <= 0:
		return errors.New("the period must be positive")
	case l.Burst < 1:
		return errors.New("the burst must be at least 1")
	}
	return nil
}

// Decision is the answer for one request: through, or wait RetryAfter
// before the next one can be.
type Decision struct {
	Allowed    bool
	RetryAfter time.Duration
}

// Store takes one request of identity against its limit, atomically.
type Store interface {
	Take(ctx context.Context, identity string) (Decision, error)
}

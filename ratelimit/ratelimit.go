// Package ratelimit counts requests per identity against a limit of n per
// period with a burst: in memory for one gateway, or in Redis (GCRA) for
// every gateway that names the same server. It knows nothing of Caddy or of
// what an identity is.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// Store takes one request of identity against limit, atomically. The limit
// comes with each call, so that identities can have limits of their own
// and a changed limit applies to an identity already counted.
type Store interface {
	Take(ctx context.Context, identity string, limit Limit) (Decision, error)
}

// ParseRate reads "<n>/<period>", e.g. "100/1m": n a positive whole number
// and period a Go duration up to 24h.
func ParseRate(s string) (rate int, period time.Duration, err error) {
	n, p, ok := strings.Cut(s, "/")
	rate, rateErr := strconv.Atoi(n)
	period, periodErr := time.ParseDuration(p)
	if !ok || rateErr != nil || rate < 1 || periodErr != nil || period <= 0 || period > 24*time.Hour {
		return 0, 0, fmt.Errorf("%q is not <n>/<period> with n a positive whole number and period a duration up to 24h, e.g. 100/1m", s)
	}
	return rate, period, nil
}

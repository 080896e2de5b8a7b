package ratelimit

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// sweepAt is how many identities the memory store holds before it drops
// the idle ones.
const sweepAt = 10_000

// MemoryStore is a token bucket per identity. A bucket that has refilled to
// its burst behaves exactly like a new one, so it can be dropped: the map
// holds only identities active within the last burst/rate.
type MemoryStore struct {
	mu       sync.Mutex
	now      func() time.Time
	limiters map[string]*rate.Limiter
}

// NewMemoryStore counts on the clock now.
func NewMemoryStore(now func() time.Time) *MemoryStore {
	return &MemoryStore{now: now, limiters: make(map[string]*rate.Limiter)}
}

// Take implements Store. A bucket made under another limit is moved to
// this one, keeping the tokens it has (up to the new burst).
func (m *MemoryStore) Take(_ context.Context, identity string, limit Limit) (Decision, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	every := rate.Every(limit.Period / time.Duration(limit.Rate))
	lim, ok := m.limiters[identity]
	switch {
	case !ok:
		if len(m.limiters) >= sweepAt {
			m.dropIdle(now)
		}
		lim = rate.NewLimiter(every, limit.Burst)
		m.limiters[identity] = lim
	case lim.Limit() != every || lim.Burst() != limit.Burst:
		lim.SetLimitAt(now, every)
		lim.SetBurstAt(now, limit.Burst)
	}
	reservation := lim.ReserveN(now, 1)
	if delay := reservation.DelayFrom(now); delay > 0 {
		reservation.CancelAt(now)
		return Decision{RetryAfter: delay}, nil
	}
	return Decision{Allowed: true}, nil
}

// dropIdle forgets every bucket that is full again. Identities are verified
// keys, so even when none is idle the map is bounded by the key ring.
func (m *MemoryStore) dropIdle(now time.Time) {
	for identity, lim := range m.limiters {
		if lim.TokensAt(now) >= float64(lim.Burst()) {
			delete(m.limiters, identity)
		}
	}
}

// Len is how many identities are held, for tests.
func (m *MemoryStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.limiters)
}

// Destruct drops the buckets, when the last user of a shared store is gone.
func (m *MemoryStore) Destruct() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.limiters = nil
	return nil
}

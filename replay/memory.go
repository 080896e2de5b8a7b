package replay

import (
	"context"
	"crypto/sha256"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// The memory store keeps, per remembered signature, 16 bytes of its key and
// its expiry in whole seconds: 20 bytes of map slot, so that the default
// million entries fit in tens of MiB, not hundreds.
//
// A 16-byte prefix of a SHA-256 digest is enough: two distinct requests
// share one only by a 128-bit coincidence (about 1e-27 among a million live
// entries, and a deliberate one would need a second preimage of another
// client's unseen request), and a coincidence can only refuse the second
// request as a replay, never let a replay through.
const (
	storedKeySize = 16
	shardCount    = 64
	// sweepInterval is the least time between two sweeps of one shard: an
	// expired entry may stay that much longer in memory, never longer in
	// effect, since every lookup checks the expiry.
	sweepInterval = 4
	// rebuildBelow: a shard's map is copied into a smaller one when a sweep
	// leaves it under this fraction of its peak, since Go maps never shrink.
	rebuildBelow = 4
	minRebuild   = 1024
)

type storedKey [storedKeySize]byte

// MemoryStore is a bounded set of live signature keys, in shards that each
// have their own lock, so that requests on different keys do not wait on
// one another. Expired entries are swept shard by shard as time passes.
type MemoryStore struct {
	max    int64
	now    func() time.Time
	epoch  time.Time // expiries are whole seconds since the store was made
	live   atomic.Int64
	shards [shardCount]shard
	// fullSweep is one more than the second of the last sweep of every
	// shard, done when the store looks full: nothing else can expire until
	// the next second.
	fullSweep atomic.Uint32
}

type shard struct {
	mu        sync.Mutex
	entries   map[storedKey]uint32 // key → expiry second, exclusive
	earliest  uint32               // no entry expires before this second
	lastSweep uint32
	peak      int
}

// NewMemoryStore remembers at most max live signatures, on the clock now.
func NewMemoryStore(max int, now func() time.Time) *MemoryStore {
	m := &MemoryStore{max: int64(max), now: now, epoch: now()}
	for i := range m.shards {
		m.shards[i].reset()
	}
	return m
}

// MarkUsed implements Store. When max live signatures are remembered, a new
// one is refused with ErrFull rather than a live one forgotten.
func (m *MemoryStore) MarkUsed(_ context.Context, key [sha256.Size]byte, expires time.Time) (bool, error) {
	now := m.second(m.now())
	until := m.expirySecond(expires)
	// The shard comes from bytes outside the stored prefix, so the two
	// together tell apart more than the prefix alone.
	s := &m.shards[key[sha256.Size-1]%shardCount]
	short := storedKey(key[:storedKeySize])
	fresh, err := s.mark(short, now, until, &m.live, m.max)
	if err == ErrFull && m.sweepAll(now) {
		fresh, err = s.mark(short, now, until, &m.live, m.max)
	}
	return fresh, err
}

// second is t in whole seconds since the epoch, rounded down: an entry is
// live while this is below its expiry second.
func (m *MemoryStore) second(t time.Time) uint32 {
	d := t.Sub(m.epoch)
	if d < 0 {
		return 0
	}
	return uint32(min(d/time.Second, math.MaxUint32))
}

// expirySecond is t in seconds since the epoch, rounded up, so that an
// entry is never forgotten before its expiry (at most a second after it).
func (m *MemoryStore) expirySecond(t time.Time) uint32 {
	d := t.Sub(m.epoch)
	if d <= 0 {
		return 0
	}
	return uint32(min((d+time.Second-1)/time.Second, math.MaxUint32))
}

// sweepAll drops expired entries from every shard, at most once a second;
// it reports whether it swept.
func (m *MemoryStore) sweepAll(now uint32) bool {
	last := m.fullSweep.Load()
	if last == now+1 || !m.fullSweep.CompareAndSwap(last, now+1) {
		return false
	}
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		s.sweep(now, &m.live)
		s.mu.Unlock()
	}
	return true
}

// Destruct drops the entries, when the last user of a shared store is gone.
func (m *MemoryStore) Destruct() error {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		m.live.Add(-int64(len(s.entries)))
		s.reset()
		s.mu.Unlock()
	}
	return nil
}

func (s *shard) reset() {
	s.entries = make(map[storedKey]uint32)
	s.earliest, s.peak = math.MaxUint32, 0
}

// mark records key as used until the second until, unless it is already
// live. live counts the entries of every shard against limit.
func (s *shard) mark(key storedKey, now, until uint32, live *atomic.Int64, limit int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now >= s.earliest && now >= s.lastSweep+sweepInterval {
		s.sweep(now, live)
	}
	if expiry, seen := s.entries[key]; seen {
		if expiry > now {
			return false, nil
		}
		delete(s.entries, key)
		live.Add(-1)
	}
	if until <= now {
		return true, nil // already expired: nothing to remember
	}
	if live.Add(1) > limit {
		live.Add(-1)
		return false, ErrFull
	}
	s.entries[key] = until
	s.earliest = min(s.earliest, until)
	s.peak = max(s.peak, len(s.entries))
	return true, nil
}

// sweep deletes the entries expired at now, and copies the rest into a
// fresh map when the old one is mostly empty.
func (s *shard) sweep(now uint32, live *atomic.Int64) {
	earliest := uint32(math.MaxUint32)
	dropped := 0
	for key, expiry := range s.entries {
		if expiry <= now {
			delete(s.entries, key)
			dropped++
			continue
		}
		earliest = min(earliest, expiry)
	}
	live.Add(-int64(dropped))
	s.earliest, s.lastSweep = earliest, now
	if s.peak >= minRebuild && len(s.entries) < s.peak/rebuildBelow {
		fresh := make(map[storedKey]uint32, len(s.entries))
		for key, expiry := range s.entries {
			fresh[key] = expiry
		}
		s.entries, s.peak = fresh, len(fresh)
	}
}

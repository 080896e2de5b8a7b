package replay

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"sync"
	"time"
)

// MemoryStore is a bounded set of live signature keys. A min-heap by expiry
// lets every insert drop what has expired in O(log n) each.
type MemoryStore struct {
	mu       sync.Mutex
	max      int
	now      func() time.Time
	live     map[[sha256.Size]byte]time.Time
	byExpiry expiryHeap
}

// NewMemoryStore remembers at most max live signatures, on the clock now.
func NewMemoryStore(max int, now func() time.Time) *MemoryStore {
	return &MemoryStore{max: max, now: now, live: make(map[[sha256.Size]byte]time.Time)}
}

// MarkUsed implements Store. When max live signatures are remembered, a new
// one is refused with ErrFull rather than a live one forgotten.
func (m *MemoryStore) MarkUsed(_ context.Context, key [sha256.Size]byte, expires time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for len(m.byExpiry) > 0 && !m.byExpiry[0].expires.After(now) {
		gone := heap.Pop(&m.byExpiry).(expiryEntry)
		if m.live[gone.key] == gone.expires {
			delete(m.live, gone.key)
		}
	}
	if until, seen := m.live[key]; seen && until.After(now) {
		return false, nil
	}
	if len(m.live) >= m.max {
		return false, ErrFull
	}
	m.live[key] = expires
	heap.Push(&m.byExpiry, expiryEntry{key: key, expires: expires})
	return true, nil
}

// Destruct drops the entries, when the last user of a shared store is gone.
func (m *MemoryStore) Destruct() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live, m.byExpiry = nil, nil
	return nil
}

type expiryEntry struct {
	key     [sha256.Size]byte
	expires time.Time
}

type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	last := old[len(old)-1]
	*h = old[:len(old)-1]
	return last
}

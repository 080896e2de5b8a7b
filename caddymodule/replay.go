package caddymodule

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// defaultMaxReplayEntries bounds the memory store.
const defaultMaxReplayEntries = 1_000_000

// ReplayProtection makes each request signature usable once while it is
// valid. Off unless configured.
type ReplayProtection struct {
	// Where used signatures are remembered: `memory` (one gateway) or
	// `redis` (shared by every gateway that names the same Redis).
	Store string `json:"store"`

	// For `memory`: how many live signatures are remembered at most. When
	// full, new signatures are refused with 503 rather than live ones
	// forgotten. Default: `1000000`
	MaxEntries int `json:"max_entries,omitempty"`

	// For `redis`: the server's URL, e.g. `redis://127.0.0.1:6379/0`.
	RedisURL string `json:"redis_url,omitempty"`

	// For `redis`: prefix of every key written. Default: `checkoutgw:replay:`
	KeyPrefix string `json:"key_prefix,omitempty"`

	// For `redis`: what to do when Redis cannot be reached: `closed` refuses
	// the request with 503 (no signature can be replayed), `open` lets it
	// through unchecked (availability first). Default: `closed`
	OnError string `json:"on_error,omitempty"`
}

// replayStore remembers used signatures until they expire. markUsed
// reports whether the signature was new, atomically: of two racing copies
// only one can see true.
type replayStore interface {
	markUsed(ctx context.Context, key [sha256.Size]byte, expires time.Time) (bool, error)
}

// errReplayStoreFull is the memory store refusing to forget live entries.
var errReplayStoreFull = errors.New("the replay store is full")

// replayKey identifies a signed request by its decoded header and payload,
// not by the token text: an ECDSA signature can be re-encoded (s replaced by
// n - s) into another valid one, and that variant is the same request.
func replayKey(tok *token) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(tok.header)))
	h.Write(n[:])
	h.Write(tok.header)
	h.Write(tok.payload)
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
}

// startReplayProtection checks the replay options and joins the shared store.
func (g *Gateway) startReplayProtection() error {
	rp := g.ReplayProtection
	if rp == nil {
		return nil
	}
	switch rp.Store {
	case "memory":
		if rp.MaxEntries == 0 {
			rp.MaxEntries = defaultMaxReplayEntries
		}
	case "redis":
		if rp.RedisURL == "" {
			return errors.New("replay_protection redis: the Redis URL is missing")
		}
		if rp.KeyPrefix == "" {
			rp.KeyPrefix = defaultReplayKeyPrefix
		}
	default:
		return fmt.Errorf("replay_protection: store %q is neither memory nor redis", rp.Store)
	}
	switch rp.OnError {
	case "":
		rp.OnError = "closed"
	case "closed", "open":
	default:
		return fmt.Errorf("replay_protection on_error: %q is neither open nor closed", rp.OnError)
	}
	store, err := rp.acquire()
	if err != nil {
		return fmt.Errorf("replay_protection: %w", err)
	}
	g.replay = store
	return nil
}

// checkReplay marks the signature used, as the last step before
// forwarding, so that only fully valid requests consume it. It is
// remembered until the token expires, plus the clock skew.
func (g *Gateway) checkReplay(ctx context.Context, tok *token) *rejection {
	if g.replay == nil {
		return nil
	}
	expires := time.Unix(0, int64(tok.claims.expiresAt*1e9)).Add(time.Duration(g.ClockSkew))
	fresh, err := g.replay.markUsed(ctx, replayKey(tok), expires)
	switch {
	case errors.Is(err, errReplayStoreFull):
		return reject(reasonReplayStoreFull, "the gateway cannot accept new signatures right now; try again shortly")
	case err != nil && g.ReplayProtection.OnError == "open":
		g.logger.Warn("replay store unavailable; letting the request through unchecked (on_error open)", zap.Error(err))
		return nil
	case err != nil:
		return reject(reasonReplayStoreDown, "the gateway cannot check for replayed requests right now; try again shortly")
	case !fresh:
		return reject(reasonReplayed, "this signature was already used; sign each request anew")
	}
	return nil
}

// replayStores shares stores across handlers and config reloads, so that a
// reload does not forget which signatures were used.
var replayStores = caddy.NewUsagePool()

func (rp *ReplayProtection) poolKey() string {
	if rp.Store == "redis" {
		return "redis " + rp.RedisURL + " " + rp.KeyPrefix
	}
	return fmt.Sprintf("memory %d", rp.MaxEntries)
}

func (rp *ReplayProtection) acquire() (replayStore, error) {
	value, _, err := replayStores.LoadOrNew(rp.poolKey(), func() (caddy.Destructor, error) {
		if rp.Store == "redis" {
			return newRedisStore(rp.RedisURL, rp.KeyPrefix)
		}
		return newMemoryStore(rp.MaxEntries, time.Now), nil
	})
	if err != nil {
		return nil, err
	}
	return value.(replayStore), nil
}

func (rp *ReplayProtection) release() {
	_, _ = replayStores.Delete(rp.poolKey())
}

// memoryStore is a bounded set of live signature keys. A min-heap by expiry
// lets every insert drop what has expired in O(log n) each.
type memoryStore struct {
	mu       sync.Mutex
	max      int
	now      func() time.Time
	live     map[[sha256.Size]byte]time.Time
	byExpiry expiryHeap
}

func newMemoryStore(max int, now func() time.Time) *memoryStore {
	return &memoryStore{max: max, now: now, live: make(map[[sha256.Size]byte]time.Time)}
}

func (m *memoryStore) markUsed(_ context.Context, key [sha256.Size]byte, expires time.Time) (bool, error) {
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
		return false, errReplayStoreFull
	}
	m.live[key] = expires
	heap.Push(&m.byExpiry, expiryEntry{key: key, expires: expires})
	return true, nil
}

// Destruct drops the entries; the pool calls it when no config uses it.
func (m *memoryStore) Destruct() error {
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

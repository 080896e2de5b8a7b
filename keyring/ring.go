package keyring

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// Metrics is told how the keys change. A nil Metrics counts nothing.
type Metrics interface {
	// CountKeyRefresh counts one fetch of a remote set, good or failed.
	CountKeyRefresh(ok bool)
	// SetKeysLoaded gives the trusted keys from one kind of source: "file"
	// or "url".
	SetKeysLoaded(source string, n int)
}

type noMetrics struct{}

func (noMetrics) CountKeyRefresh(bool)      {}
func (noMetrics) SetKeysLoaded(string, int) {}

// Ring is one handler's trusted keys: those of its key files and the last
// good keys of each remote source it joined, for its own algorithms only.
type Ring struct {
	allowed []string
	files   []*Key
	logger  *zap.Logger
	metrics Metrics
	set     atomic.Pointer[Set]

	mu      sync.Mutex
	sources []*Source
}

// NewRing makes a ring of the files' keys, which are trusted for every
// allowed algorithm they serve. Two file keys with one kid are an error.
func NewRing(files []*Key, allowed []string, logger *zap.Logger, metrics Metrics) (*Ring, error) {
	ks, err := NewSet(files)
	if err != nil {
		return nil, err
	}
	if metrics == nil {
		metrics = noMetrics{}
	}
	r := &Ring{allowed: allowed, files: files, logger: logger, metrics: metrics}
	r.set.Store(ks)
	return r, nil
}

// Keys is the current set; it never changes, a newer one replaces it.
func (r *Ring) Keys() *Set { return r.set.Load() }

// Add joins a source: its keys come in at every Rebuild, which the source
// triggers itself whenever its keys change.
func (r *Ring) Add(s *Source) {
	r.mu.Lock()
	r.sources = append(r.sources, s)
	r.mu.Unlock()
	s.subscribe(r, r.Rebuild)
}

// Detach leaves every source and returns them, for the caller to release.
// It is safe on a ring that joined none.
func (r *Ring) Detach() []*Source {
	r.mu.Lock()
	sources := r.sources
	r.sources = nil
	r.mu.Unlock()
	for _, s := range sources {
		s.unsubscribe(r)
	}
	return sources
}

// Rebuild assembles the trusted set from the files and each source's last
// good keys, keeping only keys for the ring's algorithms. A remote key
// whose kid is already taken is left out: files win, then sources in the
// order they were added.
func (r *Ring) Rebuild() {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := slices.Clone(r.files)
	taken := make(map[string]bool, len(keys))
	for _, k := range keys {
		taken[k.kid] = true
	}
	remote := 0
	for _, src := range r.sources {
		for _, k := range src.current() {
			switch {
			case !slices.Contains(r.allowed, k.alg.name):
			case taken[k.kid]:
				r.logger.Warn("signing key left out", zap.String("source", LoggableURL(src.url)), zap.String("kid", k.kid), zap.String("why", "another source already has this kid"))
			default:
				taken[k.kid] = true
				keys = append(keys, k)
				remote++
			}
		}
	}
	ks, err := NewSet(keys)
	if err != nil {
		// Cannot happen: kids were made unique above.
		r.logger.Error("assembling keys", zap.Error(err))
		return
	}
	r.set.Store(ks)
	r.metrics.SetKeysLoaded("file", len(r.files))
	r.metrics.SetKeysLoaded("url", remote)
}

// Lookup finds a key by kid. An unknown kid asks each remote source for one
// refresh (rate limited, shared by concurrent callers) before it is judged
// unknown, so a rotated-in key works on its first request.
func (r *Ring) Lookup(ctx context.Context, kid string) (*Key, bool) {
	if key, ok := r.set.Load().ByKid(kid); ok {
		return key, true
	}
	r.mu.Lock()
	sources := r.sources
	r.mu.Unlock()
	if len(sources) == 0 {
		return nil, false
	}
	for _, src := range sources {
		src.refreshForUnknownKid(ctx)
	}
	return r.set.Load().ByKid(kid)
}

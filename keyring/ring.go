package keyring

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Metrics is told how the keys change. A nil Metrics counts nothing.
type Metrics interface {
	// CountKeyRefresh counts one fetch of a remote set, good or failed.
	CountKeyRefresh(ok bool)
	// SetKeysLoaded gives the trusted keys from one kind of source: "file"
	// or "url".
	SetKeysLoaded(source string, n int)
	// CountRefreshFailure counts a refused refresh of one kind of source
	// ("file", "url" or "api_keys") by cause, one of the Cause constants.
	CountRefreshFailure(source, cause string)
	// SetLastRefresh is the time of the last good refresh of one kind of
	// source, for staleness alerts.
	SetLastRefresh(source string, at time.Time)
}

type noMetrics struct{}

func (noMetrics) CountKeyRefresh(bool)               {}
func (noMetrics) SetKeysLoaded(string, int)          {}
func (noMetrics) CountRefreshFailure(string, string) {}
func (noMetrics) SetLastRefresh(string, time.Time)   {}

// keyFile is the last good keys of one key file.
type keyFile struct {
	path string
	keys []*Key
	health
}

// Ring is one handler's trusted keys: those of its key files and the last
// good keys of each remote source it joined, for its own algorithms only.
type Ring struct {
	allowed []string
	logger  *zap.Logger
	metrics Metrics
	set     atomic.Pointer[Set]

	mu        sync.Mutex
	files     []*keyFile
	sources   []*Source
	lastKids  string // the kids last logged, to log only changes
	everBuilt bool
}

// NewRing makes a ring of the files' keys, which are trusted for every
// allowed algorithm they serve. Two file keys with one kid are an error.
// Key files that are reloaded later join with LoadFile instead.
func NewRing(files []*Key, allowed []string, logger *zap.Logger, metrics Metrics) (*Ring, error) {
	ks, err := NewSet(files)
	if err != nil {
		return nil, err
	}
	if metrics == nil {
		metrics = noMetrics{}
	}
	r := &Ring{allowed: allowed, logger: logger, metrics: metrics}
	if len(files) > 0 {
		r.files = []*keyFile{{path: "(given)", keys: files}}
	}
	r.set.Store(ks)
	return r, nil
}

// Keys is the current set; it never changes, a newer one replaces it.
func (r *Ring) Keys() *Set { return r.set.Load() }

// AddFile joins a key file's keys, read for the first time. A content that
// does not parse, holds no usable key or repeats a kid is an error.
func (r *Ring) AddFile(path string, data []byte) error {
	keys, err := r.parseFile(path, data)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.checkUnique(-1, keys); err != nil {
		return err
	}
	f := &keyFile{path: path, keys: keys}
	f.record(nil, true)
	r.files = append(r.files, f)
	r.metrics.SetLastRefresh("file", time.Now())
	return nil
}

// LoadFile takes a key file's new contents. A content that does not parse,
// holds no usable key or repeats a kid of another file is refused: the
// file keeps its last good keys, and the refusal is logged at Error and
// counted.
func (r *Ring) LoadFile(path string, data []byte) error {
	keys, err := r.parseFile(path, data)
	r.mu.Lock()
	idx := slices.IndexFunc(r.files, func(f *keyFile) bool { return f.path == path })
	if idx < 0 {
		r.mu.Unlock()
		return fmt.Errorf("jwks_file %s: not a key file of this handler", path)
	}
	f := r.files[idx]
	if err == nil {
		err = r.checkUnique(idx, keys)
	}
	if err != nil {
		r.mu.Unlock()
		r.refuse(f, err)
		return err
	}
	changed := !sameKeys(f.keys, keys)
	f.keys = keys
	r.mu.Unlock()
	if f.record(nil, changed) {
		r.logger.Info("key file usable again", zap.String("source", path))
	}
	r.metrics.SetLastRefresh("file", time.Now())
	r.Rebuild()
	return nil
}

func (r *Ring) parseFile(path string, data []byte) ([]*Key, error) {
	keys, skipped, err := ParseJWKS(data, r.allowed)
	if err != nil {
		return nil, failed(CauseParse, fmt.Errorf("jwks_file %s: %w", path, err))
	}
	for _, s := range skipped {
		r.logger.Warn("signing key left out", zap.String("source", path), zap.Int("index", s.Index), zap.String("kid", s.Kid), zap.String("why", s.Why))
	}
	if len(keys) == 0 {
		return nil, failed(CauseEmpty, fmt.Errorf("jwks_file %s: no usable signing key for algorithms %s%s", path, strings.Join(r.allowed, ", "), skippedReasons(skipped)))
	}
	return keys, nil
}

// checkUnique refuses keys that repeat a kid within themselves or of a
// file other than the one at skip. The caller holds r.mu.
func (r *Ring) checkUnique(skip int, keys []*Key) error {
	all := slices.Clone(keys)
	for i, f := range r.files {
		if i != skip {
			all = append(all, f.keys...)
		}
	}
	if _, err := NewSet(all); err != nil {
		return failed(CauseDuplicateKid, fmt.Errorf("jwks_file: %w", err))
	}
	return nil
}

// sameKeys reports whether two key lists hold the same kids and algorithms.
func sameKeys(a, b []*Key) bool {
	return slices.Equal(infos(a), infos(b))
}

func infos(keys []*Key) []KeyInfo {
	out := make([]KeyInfo, 0, len(keys))
	for _, k := range keys {
		out = append(out, KeyInfo{Kid: k.kid, Alg: k.alg.name})
	}
	slices.SortFunc(out, func(x, y KeyInfo) int { return strings.Compare(x.Kid, y.Kid) })
	return out
}

// Add joins a source with the default refresh and timeout.
func (r *Ring) Add(s *Source) { r.AddWithOptions(s, 0, 0) }

// AddWithOptions joins a source: its keys come in at every Rebuild, which
// the source triggers itself whenever its keys change. The source
// refreshes as often, and waits as briefly, as the most demanding ring
// that joined it; zero means the default.
func (r *Ring) AddWithOptions(s *Source, refresh, timeout time.Duration) {
	r.mu.Lock()
	r.sources = append(r.sources, s)
	r.mu.Unlock()
	s.subscribe(r, r.Rebuild, refresh, timeout)
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

// Sources are the remote sources the ring joined.
func (r *Ring) Sources() []*Source {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sources)
}

// Rebuild assembles the trusted set from the files and each source's last
// good keys, keeping only keys for the ring's algorithms. A remote key
// whose kid is already taken is left out: files win, then sources in the
// order they were added. It logs the kids per source whenever they change.
func (r *Ring) Rebuild() {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keys []*Key
	perSource := make(map[string][]string)
	for _, f := range r.files {
		keys = append(keys, f.keys...)
		perSource[f.path] = kidsOf(f.keys)
	}
	taken := make(map[string]bool, len(keys))
	for _, k := range keys {
		taken[k.kid] = true
	}
	fromFiles, remote := len(keys), 0
	for _, src := range r.sources {
		name := LoggableURL(src.url)
		perSource[name] = []string{}
		for _, k := range src.current() {
			switch {
			case !slices.Contains(r.allowed, k.alg.name):
			case taken[k.kid]:
				r.logger.Warn("signing key left out", zap.String("source", name), zap.String("kid", k.kid), zap.String("why", "another source already has this kid"))
			default:
				taken[k.kid] = true
				keys = append(keys, k)
				perSource[name] = append(perSource[name], k.kid)
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
	r.metrics.SetKeysLoaded("file", fromFiles)
	r.metrics.SetKeysLoaded("url", remote)
	r.logKids(perSource)
}

// logKids writes one Info line with the kids of every source, kids only,
// at the first build and whenever they change. The caller holds r.mu.
func (r *Ring) logKids(perSource map[string][]string) {
	var summary strings.Builder
	for _, name := range slices.Sorted(maps.Keys(perSource)) {
		slices.Sort(perSource[name])
		fmt.Fprintf(&summary, "%s=%s;", name, strings.Join(perSource[name], ","))
	}
	if r.everBuilt && summary.String() == r.lastKids {
		return
	}
	r.everBuilt, r.lastKids = true, summary.String()
	r.logger.Info("signing keys loaded", zap.Any("kids", perSource))
}

func kidsOf(keys []*Key) []string {
	kids := make([]string, 0, len(keys))
	for _, k := range keys {
		kids = append(kids, k.kid)
	}
	return kids
}

// Status describes every source of the ring for the control plane: only
// the keys that verify now are listed.
func (r *Ring) Status() []SourceStatus {
	set := r.set.Load()
	trusted := func(keys []*Key) []KeyInfo {
		var in []*Key
		for _, k := range keys {
			if current, ok := set.ByKid(k.kid); ok && current == k {
				in = append(in, k)
			}
		}
		return infos(in)
	}
	r.mu.Lock()
	files, sources := slices.Clone(r.files), slices.Clone(r.sources)
	fileKeys := make([][]*Key, len(files))
	for i, f := range files {
		fileKeys[i] = f.keys
	}
	r.mu.Unlock()
	var out []SourceStatus
	for i, f := range files {
		st := SourceStatus{Kind: "file", Source: f.path, Keys: trusted(fileKeys[i])}
		f.fill(&st)
		out = append(out, st)
	}
	for _, s := range sources {
		st := SourceStatus{Kind: "url", Source: LoggableURL(s.url), Keys: trusted(s.current())}
		s.fill(&st)
		out = append(out, st)
	}
	return out
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

// ReadFailed records that a key file could not be read: its last good keys
// stay, and the failure is logged at Error and counted.
func (r *Ring) ReadFailed(path string, err error) {
	r.mu.Lock()
	idx := slices.IndexFunc(r.files, func(f *keyFile) bool { return f.path == path })
	r.mu.Unlock()
	if idx < 0 {
		return
	}
	r.refuse(r.files[idx], failed(CauseRead, err))
}

func (r *Ring) refuse(f *keyFile, err error) {
	f.record(err, false)
	r.metrics.CountRefreshFailure("file", CauseOf(err))
	r.mu.Lock()
	kept := len(f.keys)
	r.mu.Unlock()
	r.logger.Error("key file change refused; keeping the last good keys", zap.String("source", f.path), zap.Error(err), zap.Int("keys_kept", kept))
}

// skippedReasons says why each key of a set that left none usable was left
// out, so the error itself tells the operator what to fix.
func skippedReasons(skipped []Skipped) string {
	var b strings.Builder
	for i, s := range skipped {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%skey %d", sep, s.Index)
		if s.Kid != "" {
			fmt.Fprintf(&b, " (kid %q)", s.Kid)
		}
		b.WriteString(" " + s.Why)
	}
	return b.String()
}

package keyring

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Bounds on fetching remote key sets.
const (
	defaultRefresh       = 15 * time.Minute
	defaultFetchTimeout  = 5 * time.Second
	maxJWKSBody          = 1 << 20
	maxAgeFloor          = 10 * time.Second // Cache-Control never makes fetching hotter than this
	firstRetry           = 500 * time.Millisecond
	maxRetry             = 30 * time.Second
	unknownKidRateWindow = 10 * time.Second // at most one unknown-kid refresh per URL per window
	maxRedirects         = 3
)

// Source fetches one URL's key set in the background and keeps the last
// good one through failures. It never fetches on a request's behalf except
// once, rate limited and single-flight, for an unknown kid. One source may
// serve several rings; it reports to the logger and metrics of the newest.
type Source struct {
	url       string
	client    *http.Client
	ctx       context.Context
	cancel    context.CancelFunc
	startOnce sync.Once
	done      chan struct{}

	keys      atomic.Pointer[[]*Key] // last good set, nil before the first
	wake      chan struct{}          // asks the loop for a fetch now
	lastForce atomic.Int64           // unix nanos of the last unknown-kid refresh

	// The refresh interval and fetch timeout in force: the shortest of
	// those the subscribers asked for, or the source's own without any.
	refresh, timeout       atomic.Int64
	ownRefresh, ownTimeout time.Duration

	health

	mu          sync.Mutex
	pending     chan struct{} // closed when the fetch serving a forced refresh ends
	subscribers map[*Ring]subscription
	logger      *zap.Logger
	metrics     Metrics
}

// subscription is one ring's interest in a source.
type subscription struct {
	changed          func()
	refresh, timeout time.Duration
}

// NewSource makes a source for rawURL that is not yet fetching. A zero
// refresh or timeout takes the default: 15 minutes, 5 seconds.
func NewSource(rawURL string, refresh, timeout time.Duration) *Source {
	if refresh == 0 {
		refresh = defaultRefresh
	}
	if timeout == 0 {
		timeout = defaultFetchTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Source{
		url:         rawURL,
		ownRefresh:  refresh,
		ownTimeout:  timeout,
		ctx:         ctx,
		cancel:      cancel,
		done:        make(chan struct{}),
		wake:        make(chan struct{}, 1),
		subscribers: make(map[*Ring]subscription),
		logger:      zap.NewNop(),
		metrics:     noMetrics{},
	}
	s.refresh.Store(int64(refresh))
	s.timeout.Store(int64(timeout))
	s.client = &http.Client{CheckRedirect: s.checkRedirect}
	return s
}

// URL is the key set's URL as configured, credentials included: never log
// it, log LoggableURL of it.
func (s *Source) URL() string { return s.url }

// Start runs the refresher once, however many callers start it.
func (s *Source) Start() {
	s.startOnce.Do(func() { go s.run(s.ctx) })
}

// Destruct stops the refresher and waits for it; safe if never started.
func (s *Source) Destruct() error {
	s.cancel()
	s.startOnce.Do(func() { close(s.done) }) // never started: nothing to wait for
	<-s.done
	return nil
}

// subscribe registers a ring to be told when the keys change, and makes its
// logger and metrics the ones the source reports to: the newest config is
// the one being watched. Its refresh and timeout apply if shorter than
// those of the other subscribers.
func (s *Source) subscribe(r *Ring, changed func(), refresh, timeout time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subscribers[r] = subscription{changed: changed, refresh: refresh, timeout: timeout}
	s.logger = r.logger.With(zap.String("jwks_url", LoggableURL(s.url)))
	s.metrics = r.metrics
	s.applyOptions()
}

// unsubscribe forgets a ring; the source reports to one that remains, so it
// does not keep logging into a config that is gone.
func (s *Source) unsubscribe(r *Ring) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subscribers, r)
	for other := range s.subscribers {
		s.logger = other.logger.With(zap.String("jwks_url", LoggableURL(s.url)))
		s.metrics = other.metrics
		break
	}
	s.applyOptions()
}

// applyOptions puts in force the shortest refresh and timeout the
// subscribers ask for, each defaulted; the caller holds s.mu. A shorter
// refresh wakes the loop so that it does not sleep out the old interval.
func (s *Source) applyOptions() {
	refresh, timeout := s.ownRefresh, s.ownTimeout
	if len(s.subscribers) > 0 {
		refresh, timeout = time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
		for _, sub := range s.subscribers {
			refresh = min(refresh, cmp.Or(sub.refresh, defaultRefresh))
			timeout = min(timeout, cmp.Or(sub.timeout, defaultFetchTimeout))
		}
	}
	if old := time.Duration(s.refresh.Swap(int64(refresh))); refresh < old {
		s.Wake()
	}
	s.timeout.Store(int64(timeout))
}

// Wake asks for one fetch soon, without waiting for it: a config reload
// that names the source picks up a revocation at once.
func (s *Source) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// RefreshNow fetches the set now, or joins a fetch that has not started
// yet, and waits for it; it returns that fetch's error.
func (s *Source) RefreshNow(ctx context.Context) error {
	s.mu.Lock()
	wait := s.pending
	if wait == nil {
		wait = make(chan struct{})
		s.pending = wait
	}
	s.mu.Unlock()
	s.Wake()
	timer := time.NewTimer(time.Duration(s.timeout.Load()) + time.Second)
	defer timer.Stop()
	select {
	case <-wait:
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return errors.New("the fetch did not end in time")
	}
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	return s.lastErr
}

// FetchOnce fetches the set once, with the same bounds as the refresher
// (timeout, size, redirects), and tells the rings that joined it. It is for
// one-shot tools that never Start the source.
func (s *Source) FetchOnce(ctx context.Context) error {
	_, err := s.fetch(ctx)
	return err
}

func (s *Source) current() []*Key {
	if k := s.keys.Load(); k != nil {
		return *k
	}
	return nil
}

// run fetches at start, then on the refresh interval (shortened by
// Cache-Control) or when woken; after a failure it retries with backoff.
func (s *Source) run(ctx context.Context) {
	defer close(s.done)
	retry := firstRetry
	for {
		// A wake asked for before this fetch starts is served by it.
		select {
		case <-s.wake:
		default:
		}
		pending := s.takePending()
		maxAge, err := s.fetch(ctx)
		refresh := time.Duration(s.refresh.Load())
		wait := refresh
		if err != nil {
			wait, retry = min(retry, refresh), min(retry*2, maxRetry)
		} else {
			retry = firstRetry
			if maxAge >= 0 {
				wait = min(refresh, max(maxAge, maxAgeFloor))
			}
		}
		if pending != nil {
			close(pending)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-s.wake:
			timer.Stop()
		}
	}
}

func (s *Source) takePending() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending
	s.pending = nil
	return p
}

// refreshForUnknownKid asks for one fetch and waits for it, unless one was
// asked for within the rate window; concurrent callers share one fetch.
func (s *Source) refreshForUnknownKid(ctx context.Context) {
	s.mu.Lock()
	wait := s.pending
	if wait == nil {
		now := time.Now().UnixNano()
		if now-s.lastForce.Load() < int64(unknownKidRateWindow) {
			s.mu.Unlock()
			return
		}
		s.lastForce.Store(now)
		wait = make(chan struct{})
		s.pending = wait
		s.Wake()
	}
	s.mu.Unlock()
	timer := time.NewTimer(time.Duration(s.timeout.Load()) + time.Second)
	defer timer.Stop()
	select {
	case <-wait:
	case <-ctx.Done():
	case <-timer.C:
	}
}

// fetch gets and parses the set; on success it replaces the keys and tells
// the subscribers. It returns the Cache-Control max-age, or -1 without one.
func (s *Source) fetch(ctx context.Context) (time.Duration, error) {
	keys, maxAge, err := s.download(ctx)
	s.mu.Lock()
	logger, metrics := s.logger, s.metrics
	s.mu.Unlock()
	if ctx.Err() != nil {
		return -1, err // stopping: not a failure of the source
	}
	metrics.CountKeyRefresh(err == nil)
	if err != nil {
		s.record(err, false)
		metrics.CountRefreshFailure("url", CauseOf(err))
		if kept := len(s.current()); kept > 0 {
			logger.Warn("key set refresh failed; keeping the last good keys", zap.Error(err), zap.Int("keys_kept", kept))
		} else {
			logger.Warn("key set refresh failed; no keys loaded yet", zap.Error(err))
		}
		return -1, err
	}
	if s.record(nil, !sameKeys(s.current(), keys)) {
		logger.Info("key set source recovered", zap.Int("keys", len(keys)))
	}
	metrics.SetLastRefresh("url", time.Now())
	s.keys.Store(&keys)
	s.mu.Lock()
	notify := make([]func(), 0, len(s.subscribers))
	for _, sub := range s.subscribers {
		notify = append(notify, sub.changed)
	}
	s.mu.Unlock()
	for _, changed := range notify {
		changed()
	}
	logger.Debug("key set refreshed", zap.Int("keys", len(keys)))
	return maxAge, nil
}

// download fetches and parses the set, bounded in time and size. Keys that
// cannot serve are skipped and logged; an empty set or a duplicate kid fails
// the whole refresh so that the last good keys stay.
func (s *Source) download(ctx context.Context) ([]*Key, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.timeout.Load()))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, -1, err
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := s.client.Do(req)
	if err != nil {
		// The URL is on the logger already, without its credentials; the
		// client's error would repeat it with its query.
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return nil, -1, fmt.Errorf("fetching: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, -1, failed(CauseStatus, fmt.Errorf("fetching: status %d", resp.StatusCode))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBody+1))
	if err != nil {
		return nil, -1, failed(CauseRead, fmt.Errorf("reading: %w", err))
	}
	if len(data) > maxJWKSBody {
		return nil, -1, failed(CauseTooLarge, fmt.Errorf("the key set is over %d bytes", maxJWKSBody))
	}
	keys, skipped, err := ParseJWKS(data, slices.Collect(maps.Keys(supportedAlgorithms)))
	if err != nil {
		return nil, -1, failed(CauseParse, err)
	}
	s.mu.Lock()
	logger := s.logger
	s.mu.Unlock()
	for _, k := range skipped {
		logger.Warn("signing key left out", zap.Int("index", k.Index), zap.String("kid", k.Kid), zap.String("why", k.Why))
	}
	if len(keys) == 0 {
		return nil, -1, failed(CauseEmpty, errors.New("the key set has no usable signing key"))
	}
	if _, err := NewSet(keys); err != nil {
		return nil, -1, failed(CauseDuplicateKid, err)
	}
	return keys, maxAgeOf(resp.Header.Get("Cache-Control")), nil
}

// checkRedirect follows a redirect only to the same host and never down to
// plain HTTP, so a key server cannot hand the gateway someone else's keys.
func (s *Source) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("more than %d redirects", maxRedirects)
	}
	original := via[0].URL
	if req.URL.Host != original.Host || (req.URL.Scheme != "https" && req.URL.Scheme != original.Scheme) {
		return fmt.Errorf("refusing a redirect to another host or to plain HTTP")
	}
	return nil
}

// maxAgeOf reads max-age from a Cache-Control value; -1 if absent.
func maxAgeOf(cacheControl string) time.Duration {
	for directive := range strings.SplitSeq(cacheControl, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(directive), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return 0
		case "max-age":
			if secs, err := strconv.Atoi(strings.Trim(value, `"`)); err == nil && secs >= 0 {
				return time.Duration(secs) * time.Second
			}
		}
	}
	return -1
}

// LoggableURL is a key-set URL fit for a log line or an error: its password
// and query, which may carry a credential, are left out.
func LoggableURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an unparseable URL)"
	}
	u.RawQuery, u.Fragment = "", ""
	return u.Redacted()
}

// CheckURL allows https anywhere and plain http only to loopback.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", LoggableURL(raw))
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("%q: plain http is allowed only to loopback; use https", LoggableURL(raw))
	}
	return fmt.Errorf("%q: use https", LoggableURL(raw))
}

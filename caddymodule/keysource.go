package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// Bounds on fetching remote key sets.
const (
	defaultJWKSRefresh   = 15 * time.Minute
	defaultFetchTimeout  = 5 * time.Second
	maxJWKSBody          = 1 << 20
	maxAgeFloor          = 10 * time.Second // Cache-Control never makes fetching hotter than this
	firstRetry           = 500 * time.Millisecond
	maxRetry             = 30 * time.Second
	unknownKidRateWindow = 10 * time.Second // at most one unknown-kid refresh per URL per window
	maxRedirects         = 3
)

// remoteSources holds one key source per URL, shared by every handler and
// config that names it and stopped when the last of them is cleaned up.
var remoteSources = caddy.NewUsagePool()

// JWKSURL is a remote JWK set, fetched in the background and refreshed.
type JWKSURL struct {
	// The URL of the JWK set: https, or http to a loopback address.
	URL string `json:"url"`

	// How often the set is fetched again. A Cache-Control max-age can
	// shorten it, never lengthen it. Default: `15m`
	Refresh caddy.Duration `json:"refresh,omitempty"`

	// How long one fetch may take, redirects and body included.
	// Default: `5s`
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// remoteKeySource fetches one URL's key set in the background and keeps the
// last good one through failures. It never fetches on a request's behalf
// except once, rate limited and single-flight, for an unknown kid.
type remoteKeySource struct {
	url       string
	refresh   time.Duration
	client    *http.Client
	ctx       context.Context
	cancel    context.CancelFunc
	startOnce sync.Once
	done      chan struct{}

	keys      atomic.Pointer[[]*verificationKey] // last good set, nil before the first
	wake      chan struct{}                      // asks the loop for a fetch now
	lastForce atomic.Int64                       // unix nanos of the last unknown-kid refresh

	mu          sync.Mutex
	pending     chan struct{} // closed when the fetch serving a forced refresh ends
	subscribers map[*Gateway]func()
	logger      *zap.Logger
	metrics     *gatewayMetrics
}

// acquireRemoteSource returns the shared source for u, subscribes g to its
// changes, and starts its refresher if no handler had yet. The caller must
// release it with releaseRemoteSource in Cleanup.
func acquireRemoteSource(u JWKSURL, g *Gateway, changed func()) (*remoteKeySource, error) {
	refresh, timeout := time.Duration(u.Refresh), time.Duration(u.Timeout)
	if refresh == 0 {
		refresh = defaultJWKSRefresh
	}
	if timeout == 0 {
		timeout = defaultFetchTimeout
	}
	value, _, err := remoteSources.LoadOrNew(u.URL, func() (caddy.Destructor, error) {
		return newRemoteSource(u.URL, refresh, timeout), nil
	})
	if err != nil {
		return nil, err
	}
	s := value.(*remoteKeySource)
	s.subscribe(g, changed)
	s.startOnce.Do(func() { go s.run(s.ctx) })
	return s, nil
}

// releaseRemoteSource undoes acquireRemoteSource; the last release stops
// the refresher.
func releaseRemoteSource(s *remoteKeySource, g *Gateway) {
	s.unsubscribe(g)
	_, _ = remoteSources.Delete(s.url)
}

func newRemoteSource(rawURL string, refresh, timeout time.Duration) *remoteKeySource {
	ctx, cancel := context.WithCancel(context.Background())
	s := &remoteKeySource{
		url:         rawURL,
		refresh:     refresh,
		ctx:         ctx,
		cancel:      cancel,
		done:        make(chan struct{}),
		wake:        make(chan struct{}, 1),
		subscribers: make(map[*Gateway]func()),
		logger:      zap.NewNop(),
	}
	s.client = &http.Client{Timeout: timeout, CheckRedirect: s.checkRedirect}
	return s
}

// Destruct stops the refresher; the pool calls it when no config uses it.
func (s *remoteKeySource) Destruct() error {
	s.cancel()
	s.startOnce.Do(func() { close(s.done) }) // never started: nothing to wait for
	<-s.done
	return nil
}

// subscribe registers a handler to be told when the keys change, and makes
// its logger and metrics the ones the source reports to: handlers of one
// config share them, and the newest config is the one being watched.
func (s *remoteKeySource) subscribe(g *Gateway, changed func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subscribers[g] = changed
	s.logger = g.logger.With(zap.String("jwks_url", loggableURL(s.url)))
	s.metrics = g.metrics
}

// unsubscribe forgets a handler; the source reports to one that remains,
// so it does not keep logging into a config that is gone.
func (s *remoteKeySource) unsubscribe(g *Gateway) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subscribers, g)
	for other := range s.subscribers {
		s.logger = other.logger.With(zap.String("jwks_url", loggableURL(s.url)))
		s.metrics = other.metrics
		break
	}
}

func (s *remoteKeySource) current() []*verificationKey {
	if k := s.keys.Load(); k != nil {
		return *k
	}
	return nil
}

// run fetches at start, then on the refresh interval (shortened by
// Cache-Control) or when woken; after a failure it retries with backoff.
func (s *remoteKeySource) run(ctx context.Context) {
	defer close(s.done)
	retry := firstRetry
	for {
		pending := s.takePending()
		maxAge, err := s.fetch(ctx)
		wait := s.refresh
		if err != nil {
			wait, retry = min(retry, s.refresh), min(retry*2, maxRetry)
		} else {
			retry = firstRetry
			if maxAge >= 0 {
				wait = min(s.refresh, max(maxAge, maxAgeFloor))
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

func (s *remoteKeySource) takePending() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending
	s.pending = nil
	return p
}

// refreshForUnknownKid asks for one fetch and waits for it, unless one was
// asked for within the rate window; concurrent callers share one fetch.
func (s *remoteKeySource) refreshForUnknownKid(ctx context.Context) {
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
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
	timer := time.NewTimer(s.client.Timeout + time.Second)
	defer timer.Stop()
	select {
	case <-wait:
	case <-ctx.Done():
	case <-timer.C:
	}
}

// fetch gets and parses the set; on success it replaces the keys and tells
// the subscribers. It returns the Cache-Control max-age, or -1 without one.
func (s *remoteKeySource) fetch(ctx context.Context) (time.Duration, error) {
	keys, maxAge, err := s.download(ctx)
	s.mu.Lock()
	logger, metrics := s.logger, s.metrics
	s.mu.Unlock()
	metrics.countKeyRefresh(err == nil)
	if err != nil {
		if ctx.Err() == nil {
			logger.Warn("key set refresh failed; keeping the last good keys", zap.Error(err), zap.Int("keys_kept", len(s.current())))
		}
		return -1, err
	}
	s.keys.Store(&keys)
	s.mu.Lock()
	notify := make([]func(), 0, len(s.subscribers))
	for _, changed := range s.subscribers {
		notify = append(notify, changed)
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
func (s *remoteKeySource) download(ctx context.Context) ([]*verificationKey, time.Duration, error) {
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
		return nil, -1, fmt.Errorf("fetching: status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBody+1))
	if err != nil {
		return nil, -1, fmt.Errorf("reading: %w", err)
	}
	if len(data) > maxJWKSBody {
		return nil, -1, fmt.Errorf("the key set is over %d bytes", maxJWKSBody)
	}
	keys, skipped, err := parseJWKS(data, slices.Collect(maps.Keys(supportedAlgorithms)))
	if err != nil {
		return nil, -1, err
	}
	s.mu.Lock()
	logger := s.logger
	s.mu.Unlock()
	for _, k := range skipped {
		logger.Warn("signing key left out", zap.Int("index", k.index), zap.String("kid", k.kid), zap.String("why", k.why))
	}
	if len(keys) == 0 {
		return nil, -1, errors.New("the key set has no usable signing key")
	}
	if _, err := newKeySet(keys); err != nil {
		return nil, -1, err
	}
	return keys, maxAgeOf(resp.Header.Get("Cache-Control")), nil
}

// checkRedirect follows a redirect only to the same host and never down to
// plain HTTP, so a key server cannot hand the gateway someone else's keys.
func (s *remoteKeySource) checkRedirect(req *http.Request, via []*http.Request) error {
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

// loggableURL is a key-set URL fit for a log line or an error: its password
// and query, which may carry a credential, are left out.
func loggableURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an unparseable URL)"
	}
	u.RawQuery, u.Fragment = "", ""
	return u.Redacted()
}

// checkJWKSURL allows https anywhere and plain http only to loopback.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", loggableURL(raw))
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("%q: plain http is allowed only to loopback; use https", loggableURL(raw))
	}
	return fmt.Errorf("%q: use https", loggableURL(raw))
}

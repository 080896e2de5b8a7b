package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/keyring"
	"github.com/checkoutgw/checkoutgw/ratelimit"
	"github.com/checkoutgw/checkoutgw/redisconn"
)

const defaultRateLimitKeyPrefix = "checkoutgw:rate:"

// RateLimit caps how often each verified identity may call, after
// authentication, so only verified identities are counted. Off unless
// configured.
type RateLimit struct {
	// Requests let through per period, for each identity.
	Rate int `json:"rate"`

	// The period of Rate, e.g. `1s` or `1m`.
	Period caddy.Duration `json:"period"`

	// Requests let through at once after a quiet spell. Default: Rate
	Burst int `json:"burst,omitempty"`

	// Whose requests are counted together: `kid` (the key that verified the
	// signature) or `api_key` (the tenant's X-Api-Key; needs api_keys).
	// Default: `kid`
	Per string `json:"per,omitempty"`

	// Where the counts live: `memory` (one gateway) or `redis` (shared by
	// every gateway that names the same Redis). Default: `memory`
	Store string `json:"store,omitempty"`

	// For `redis`: the URL, as for replay_protection.
	RedisURL string `json:"redis_url,omitempty"`

	// For `rediss://`: a PEM file of the CAs to trust instead of the
	// system's.
	CAFile string `json:"ca_file,omitempty"`

	// For `redis`: prefix of every key written. Default: `checkoutgw:rate:`
	KeyPrefix string `json:"key_prefix,omitempty"`

	// For `redis`: what to do when Redis cannot be reached: `closed`
	// answers 503, `open` lets the request through uncounted.
	// Default: `closed`
	OnError string `json:"on_error,omitempty"`
}

// rateLimitStores shares stores across handlers and config reloads, so that
// a reload does not hand every identity a fresh burst.
var rateLimitStores = caddy.NewUsagePool()

// startRateLimit checks the options and joins the shared store.
func (g *Gateway) startRateLimit() error {
	rl := g.RateLimit
	if rl == nil {
		return nil
	}
	if rl.Burst == 0 {
		rl.Burst = rl.Rate
	}
	if err := rl.limit().Validate(); err != nil {
		return fmt.Errorf("rate_limit: %w", err)
	}
	switch rl.Per {
	case "":
		rl.Per = "kid"
	case "kid":
	case "api_key":
		if g.APIKeys == "" {
			return errors.New("rate_limit per api_key: needs api_keys, so that the key is verified")
		}
	default:
		return fmt.Errorf("rate_limit per: %q is neither kid nor api_key", rl.Per)
	}
	switch rl.Store {
	case "":
		rl.Store = "memory"
	case "memory":
	case "redis":
		if rl.RedisURL == "" {
			return errors.New("rate_limit store redis: the Redis URL is missing")
		}
		if rl.KeyPrefix == "" {
			rl.KeyPrefix = defaultRateLimitKeyPrefix
		}
	default:
		return fmt.Errorf("rate_limit store: %q is neither memory nor redis", rl.Store)
	}
	if err := defaultOnError("rate_limit", &rl.OnError); err != nil {
		return err
	}
	store, err := rl.acquire()
	if err != nil {
		return fmt.Errorf("rate_limit: %w", err)
	}
	g.rateLimiter = store
	return nil
}

func (rl *RateLimit) limit() ratelimit.Limit {
	return ratelimit.Limit{Rate: rl.Rate, Period: time.Duration(rl.Period), Burst: rl.Burst}
}

// checkRateLimit takes one request from the identity's allowance, at the
// tenant's own limit when it has one.
func (g *Gateway) checkRateLimit(ctx context.Context, r *http.Request, key *keyring.Key) *envelope.Rejection {
	if g.rateLimiter == nil {
		return nil
	}
	decision, err := g.rateLimiter.Take(ctx, g.RateLimit.identity(r, key), g.rateLimitFor(r, key))
	switch {
	case err != nil && g.RateLimit.OnError == "open":
		g.logger.Warn("rate-limit store unavailable; letting the request through uncounted (on_error open)", zap.Error(err))
		return nil
	case err != nil:
		rej := envelope.Reject(envelope.ReasonRateLimitStoreDown, "the gateway cannot check the rate limit right now; try again shortly")
		rej.Cause = err
		return rej
	case !decision.Allowed:
		rej := envelope.Reject(envelope.ReasonRateLimited, "too many requests for this %s; wait before sending the next", rateLimitSubject[g.RateLimit.Per])
		rej.RetryAfter = decision.RetryAfter
		return rej
	}
	return nil
}

// rateLimitFor is the limit the request is counted at: its tenant's
// override in the api_keys file, if it has one and the key that verified
// the request is one of that tenant's kids (under report_only signature a
// request can be forwarded with a key not bound to its X-Api-Key, and must
// not borrow that tenant's limit); else the handler's rate_limit. It is
// read per request, so an edited override applies at once.
func (g *Gateway) rateLimitFor(r *http.Request, key *keyring.Key) ratelimit.Limit {
	if g.tenants != nil {
		tenant, ok := g.tenants.Lookup(r.Header.Get("X-Api-Key"))
		if ok && tenant.RateLimit != nil && slices.Contains(tenant.Kids, key.Kid()) {
			return *tenant.RateLimit
		}
	}
	return g.RateLimit.limit()
}

var rateLimitSubject = map[string]string{"kid": "signing key", "api_key": "API key"}

// identity names whose allowance a request uses. An API key is only ever
// held as its SHA-256, as in the api_keys file.
func (rl *RateLimit) identity(r *http.Request, key *keyring.Key) string {
	if rl.Per == "api_key" {
		sum := sha256.Sum256([]byte(r.Header.Get("X-Api-Key")))
		return "api_key:" + hex.EncodeToString(sum[:])
	}
	return "kid:" + key.Kid()
}

// poolKey keeps the handler's limit in the key although the stores take it
// per call, so that handlers with different limits keep separate buckets.
func (rl *RateLimit) poolKey() string {
	limit := fmt.Sprintf("%d/%s burst %d", rl.Rate, time.Duration(rl.Period), rl.Burst)
	if rl.Store == "redis" {
		return "redis " + rl.RedisURL + " " + rl.CAFile + " " + rl.KeyPrefix + " " + limit
	}
	return "memory " + limit
}

func (rl *RateLimit) acquire() (ratelimit.Store, error) {
	value, _, err := rateLimitStores.LoadOrNew(rl.poolKey(), func() (caddy.Destructor, error) {
		if rl.Store == "redis" {
			routeRedisLogs()
			client, err := redisconn.NewClient(rl.RedisURL, rl.CAFile)
			if err != nil {
				return nil, err
			}
			return ratelimit.NewRedisStore(client, rl.KeyPrefix), nil
		}
		return ratelimit.NewMemoryStore(time.Now), nil
	})
	if err != nil {
		return nil, err
	}
	return value.(ratelimit.Store), nil
}

func (rl *RateLimit) release() {
	_, _ = rateLimitStores.Delete(rl.poolKey())
}

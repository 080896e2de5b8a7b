package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/redisconn"
	"github.com/checkoutgw/checkoutgw/replay"
	"github.com/checkoutgw/checkoutgw/signedrequest"
)

// Defaults of the replay_protection options.
const (
	defaultMaxReplayEntries = 1_000_000
	defaultReplayKeyPrefix  = "checkoutgw:replay:"
)

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

	// For `redis`: the server's URL, e.g. `redis://127.0.0.1:6379/0`;
	// `rediss://` for TLS, repeated `addr` parameters for a Cluster, a
	// `master_name` parameter for Sentinel (see the README).
	RedisURL string `json:"redis_url,omitempty"`

	// For `rediss://`: a PEM file of the CAs to trust instead of the
	// system's.
	CAFile string `json:"ca_file,omitempty"`

	// For `redis`: prefix of every key written. Default: `checkoutgw:replay:`
	KeyPrefix string `json:"key_prefix,omitempty"`

	// For `redis`: what to do when Redis cannot be reached: `closed` refuses
	// the request with 503 (no signature can be replayed), `open` lets it
	// through unchecked (availability first). Default: `closed`
	OnError string `json:"on_error,omitempty"`

	// For `redis`: how many replicas of the key's master must confirm a
	// signature as used (WAIT) before the request goes on, so that a
	// failover cannot forget it. When fewer confirm within 250 ms, on_error
	// decides; the signature stays marked. Default: `1` for a Cluster or
	// Sentinel, `0` (no waiting) for one node
	Replicas *int `json:"replicas,omitempty"`
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
		if err := rp.defaultReplicas(); err != nil {
			return fmt.Errorf("replay_protection: %w", err)
		}
	default:
		return fmt.Errorf("replay_protection: store %q is neither memory nor redis", rp.Store)
	}
	if err := defaultOnError("replay_protection", &rp.OnError); err != nil {
		return err
	}
	store, err := rp.acquire()
	if err != nil {
		return fmt.Errorf("replay_protection: %w", err)
	}
	g.replay = store
	return nil
}

// defaultReplicas makes a Cluster or Sentinel wait for one replica, as
// both exist to fail over; one node has nothing to wait for.
func (rp *ReplayProtection) defaultReplicas() error {
	opts, err := redisconn.Options(rp.RedisURL, rp.CAFile)
	if err != nil {
		return err
	}
	if rp.Replicas != nil {
		if *rp.Replicas < 0 {
			return fmt.Errorf("replicas: %d is negative", *rp.Replicas)
		}
		return nil
	}
	replicas := 0
	if redisconn.Topology(opts) != "single" {
		replicas = 1
	}
	rp.Replicas = &replicas
	return nil
}

// checkReplay marks the signature used, as the last step before
// forwarding, so that only fully valid requests consume it. It is
// remembered until the token expires, plus the clock skew.
func (g *Gateway) checkReplay(ctx context.Context, tok *signedrequest.Token) *envelope.Rejection {
	if g.replay == nil {
		return nil
	}
	expires := tok.ExpiresAt().Add(time.Duration(g.ClockSkew))
	fresh, err := g.replay.MarkUsed(ctx, replay.KeyFor(tok.Header(), tok.Payload()), expires)
	switch {
	case errors.Is(err, replay.ErrFull):
		return envelope.Reject(envelope.ReasonReplayStoreFull, "the gateway cannot accept new signatures right now; try again shortly")
	case errors.Is(err, replay.ErrNotDurable) && g.ReplayProtection.OnError == "closed":
		rej := envelope.Reject(envelope.ReasonReplayNotDurable, "the gateway could not record this signature safely; it now counts as used, so sign the request anew and try again shortly")
		rej.Cause = err
		return rej
	case err != nil && g.ReplayProtection.OnError == "open":
		g.logger.Warn("replay store unavailable; letting the request through unchecked (on_error open)", zap.Error(err))
		return nil
	case err != nil:
		rej := envelope.Reject(envelope.ReasonReplayStoreDown, "the gateway cannot check for replayed requests right now; try again shortly")
		rej.Cause = err
		return rej
	case !fresh:
		return envelope.Reject(envelope.ReasonReplayed, "this signature was already used; sign each request anew")
	}
	return nil
}

// replayStores shares stores across handlers and config reloads, so that a
// reload does not forget which signatures were used.
var replayStores = caddy.NewUsagePool()

func (rp *ReplayProtection) poolKey() string {
	if rp.Store == "redis" {
		return fmt.Sprintf("redis %s %s %s %d", rp.RedisURL, rp.CAFile, rp.KeyPrefix, *rp.Replicas)
	}
	return fmt.Sprintf("memory %d", rp.MaxEntries)
}

func (rp *ReplayProtection) acquire() (replay.Store, error) {
	value, _, err := replayStores.LoadOrNew(rp.poolKey(), func() (caddy.Destructor, error) {
		if rp.Store == "redis" {
			routeRedisLogs()
			client, err := redisconn.NewClient(rp.RedisURL, rp.CAFile)
			if err != nil {
				return nil, err
			}
			return replay.NewRedisStore(client, rp.KeyPrefix, *rp.Replicas), nil
		}
		return replay.NewMemoryStore(rp.MaxEntries, time.Now), nil
	})
	if err != nil {
		return nil, err
	}
	return value.(replay.Store), nil
}

func (rp *ReplayProtection) release() {
	_, _ = replayStores.Delete(rp.poolKey())
}

// defaultOnError checks what a shared store's on_error says to do when the
// store cannot be reached, closed (refuse with 503) by default.
func defaultOnError(option string, onError *string) error {
	switch *onError {
	case "":
		*onError = "closed"
	case "closed", "open":
	default:
		return fmt.Errorf("%s on_error: %q is neither open nor closed", option, *onError)
	}
	return nil
}

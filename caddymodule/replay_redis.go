package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Bounds on talking to Redis: a replay check must never hold a request for
// long, whatever Redis does.
const (
	redisDialTimeout = time.Second
	redisIOTimeout   = 500 * time.Millisecond
	redisPoolSize    = 64
)

const defaultReplayKeyPrefix = "checkoutgw:replay:"

// redisStore remembers used signatures in Redis, shared by every gateway
// that names the same server, with SET NX and an expiry: one atomic step.
type redisStore struct {
	client *redis.Client
	prefix string
}

func newRedisStore(rawURL, prefix string) (*redisStore, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	opts.DialTimeout = redisDialTimeout
	opts.ReadTimeout = redisIOTimeout
	opts.WriteTimeout = redisIOTimeout
	opts.PoolSize = redisPoolSize
	opts.MaxRetries = 1
	return &redisStore{client: redis.NewClient(opts), prefix: prefix}, nil
}

func (s *redisStore) markUsed(ctx context.Context, key [sha256.Size]byte, expires time.Time) (bool, error) {
	ttl := time.Until(expires)
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	ok, err := s.client.SetNX(ctx, s.prefix+hex.EncodeToString(key[:]), 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redis: %w", err)
	}
	return ok, nil
}

// Destruct closes the connection pool; the pool calls it when no config
// uses this Redis any more.
func (s *redisStore) Destruct() error {
	return s.client.Close()
}

package replay

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

// RedisStore remembers used signatures in Redis, shared by every gateway
// that names the same server, with SET NX and an expiry: one atomic step.
type RedisStore struct {
	client *redis.Client
	prefix string
}

// NewRedisStore connects lazily to the Redis at rawURL; every key it writes
// starts with prefix.
func NewRedisStore(rawURL, prefix string) (*RedisStore, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	opts.DialTimeout = redisDialTimeout
	opts.ReadTimeout = redisIOTimeout
	opts.WriteTimeout = redisIOTimeout
	opts.PoolSize = redisPoolSize
	opts.MaxRetries = 1
	return &RedisStore{client: redis.NewClient(opts), prefix: prefix}, nil
}

// MarkUsed implements Store; the entry lives until expires.
func (s *RedisStore) MarkUsed(ctx context.Context, key [sha256.Size]byte, expires time.Time) (bool, error) {
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

// Destruct closes the connection pool, when the last user of a shared
// store is gone.
func (s *RedisStore) Destruct() error {
	return s.client.Close()
}

// Ping checks that Redis answers, for readiness probes.
func (s *RedisStore) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

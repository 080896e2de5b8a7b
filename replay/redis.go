package replay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore remembers used signatures in Redis, shared by every gateway
// that names the same server, with SET NX and an expiry: one atomic step on
// one key, so it works alike on one node, a Sentinel set or a Cluster.
type RedisStore struct {
	client redis.UniversalClient
	prefix string
}

// NewRedisStore keeps used signatures through client; every key it writes
// starts with prefix. The store owns the client and closes it.
func NewRedisStore(client redis.UniversalClient, prefix string) *RedisStore {
	return &RedisStore{client: client, prefix: prefix}
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

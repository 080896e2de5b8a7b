package ratelimit

import (
	"context"
	"fmt"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// RedisStore applies the limit in Redis with GCRA (redis_rate): one Lua
// script on one key per identity, so every gateway sharing the server
// shares the limit, on one node, a Sentinel set or a Cluster alike.
type RedisStore struct {
	client  redis.UniversalClient
	limiter *redis_rate.Limiter
	prefix  string
}

// NewRedisStore counts through client; every key starts with prefix. The
// store owns the client and closes it.
func NewRedisStore(client redis.UniversalClient, prefix string) *RedisStore {
	return &RedisStore{client: client, limiter: redis_rate.NewLimiter(client), prefix: prefix}
}

// Take implements Store. GCRA keeps one time per identity, not tokens: a
// changed limit spaces the requests after the next one allowed, and a
// debt run up under the old limit is paid first.
func (s *RedisStore) Take(ctx context.Context, identity string, limit Limit) (Decision, error) {
	res, err := s.limiter.Allow(ctx, s.prefix+identity, redis_rate.Limit{Rate: limit.Rate, Period: limit.Period, Burst: limit.Burst})
	if err != nil {
		return Decision{}, fmt.Errorf("redis: %w", err)
	}
	if res.Allowed > 0 {
		return Decision{Allowed: true}, nil
	}
	return Decision{RetryAfter: res.RetryAfter}, nil
}

// Destruct closes the connection pool, when the last user of a shared
// store is gone.
func (s *RedisStore) Destruct() error {
	return s.client.Close()
}

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
	limit   redis_rate.Limit
	prefix  string
}

// NewRedisStore applies limit through client; every key starts with
// prefix. The store owns the client and closes it.
func NewRedisStore(client redis.UniversalClient, prefix string, limit Limit) *RedisStore {
	return &RedisStore{
		client:  client,
		limiter: redis_rate.NewLimiter(client),
		limit:   redis_rate.Limit{Rate: limit.Rate, Period: limit.Period, Burst: limit.Burst},
		prefix:  prefix,
	}
}

// Take implements Store.
func (s *RedisStore) Take(ctx context.Context, identity string) (Decision, error) {
	res, err := s.limiter.Allow(ctx, s.prefix+identity, s.limit)
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

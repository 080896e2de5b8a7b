package replay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// replicaAckTimeout bounds how long WAIT holds a request for replicas to
// confirm a mark; it stays below the client's read timeout (0.5 s), which
// bounds the command too.
const replicaAckTimeout = 250 * time.Millisecond

// ErrNotDurable is Redis recording a signature as used without enough
// replicas confirming it in time: a failover now could lose the mark. The
// mark stays on the master.
var ErrNotDurable = errors.New("fewer Redis replicas than required confirmed the mark")

// RedisStore remembers used signatures in Redis, shared by every gateway
// that names the same server, with SET NX and an expiry: one atomic step on
// one key, so it works alike on one node, a Sentinel set or a Cluster.
type RedisStore struct {
	client   redis.UniversalClient
	prefix   string
	replicas int
}

// NewRedisStore keeps used signatures through client; every key it writes
// starts with prefix. With replicas above 0 a mark counts only once that
// many replicas of the key's master have it (WAIT), or all of them if it
// has fewer, so that a failover cannot forget it. The store owns the
// client and closes it.
func NewRedisStore(client redis.UniversalClient, prefix string, replicas int) *RedisStore {
	return &RedisStore{client: client, prefix: prefix, replicas: replicas}
}

// MarkUsed implements Store; the entry lives until expires. It returns
// ErrNotDurable when the mark was made but not replicated in time.
func (s *RedisStore) MarkUsed(ctx context.Context, key [sha256.Size]byte, expires time.Time) (bool, error) {
	ttl := time.Until(expires)
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	name := s.prefix + hex.EncodeToString(key[:])
	if s.replicas == 0 {
		ok, err := s.client.SetNX(ctx, name, 1, ttl).Result()
		if err != nil {
			return false, fmt.Errorf("redis: %w", err)
		}
		return ok, nil
	}
	return s.markReplicated(ctx, name, ttl)
}

// markReplicated marks name on the key's master and then waits (WAIT)
// until the replicas confirm it, all on one connection: WAIT counts only
// the writes made on its own connection. It waits for the configured
// number, or for every replica the master has if it has fewer: a replica
// that is not connected cannot confirm, and a master that has none left
// (after a failover) can lose a mark to no promotion.
func (s *RedisStore) markReplicated(ctx context.Context, name string, ttl time.Duration) (bool, error) {
	master, err := s.masterFor(ctx, name)
	if err != nil {
		return false, fmt.Errorf("redis: %w", err)
	}
	conn := master.Conn()
	defer conn.Close()
	var set *redis.BoolCmd
	var role *redis.Cmd
	_, err = conn.Pipelined(ctx, func(p redis.Pipeliner) error {
		set = p.SetNX(ctx, name, 1, ttl)
		role = p.Do(ctx, "role")
		return nil
	})
	if err != nil {
		// This bypasses the Cluster client, which would otherwise learn
		// of a moved slot or a promoted replica from the error.
		if cluster, ok := s.client.(*redis.ClusterClient); ok {
			cluster.ReloadState(ctx)
		}
		return false, fmt.Errorf("redis: %w", err)
	}
	if !set.Val() {
		return false, nil
	}
	connected, err := connectedReplicas(role)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrNotDurable, err)
	}
	want := min(s.replicas, connected)
	if want == 0 {
		return true, nil
	}
	// Not conn.Wait: it would stretch the read timeout by 10 s.
	acked, err := conn.Do(ctx, "wait", want, replicaAckTimeout.Milliseconds()).Int64()
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrNotDurable, err)
	}
	if acked < int64(want) {
		return false, fmt.Errorf("%w (%d of %d)", ErrNotDurable, acked, want)
	}
	return true, nil
}

// connectedReplicas reads a master's ROLE reply: "master", its offset, and
// one entry per connected replica.
func connectedReplicas(role *redis.Cmd) (int, error) {
	reply, err := role.Slice()
	if err != nil {
		return 0, err
	}
	if len(reply) != 3 || reply[0] != "master" {
		return 0, errors.New("the node that took the mark does not say it is a master")
	}
	replicas, ok := reply[2].([]any)
	if !ok {
		return 0, errors.New("ROLE has no list of replicas")
	}
	return len(replicas), nil
}

// masterFor is the one-node client that holds name: the slot's master in a
// Cluster, the client itself for one node or Sentinel (where go-redis
// follows the current master).
func (s *RedisStore) masterFor(ctx context.Context, name string) (*redis.Client, error) {
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		return c.MasterForKey(ctx, name)
	case *redis.Client:
		return c, nil
	}
	return nil, fmt.Errorf("waiting for replicas is not supported with a %T", s.client)
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

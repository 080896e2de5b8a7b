package ratelimit

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startRedis runs a throwaway redis-server on a free loopback port.
func startRedis(t *testing.T) *redis.Client {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed; .ci/run must install it")
		}
		t.Skip("redis-server is not installed; CI runs this test")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	client := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	for i := 0; client.Ping(context.Background()).Err() != nil; i++ {
		if i == 100 {
			t.Fatal("redis-server did not start within 5s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return client
}

// TestRedisStorePerIdentityLimit: each identity is counted in Redis at the
// limit given with its requests.
func TestRedisStorePerIdentityLimit(t *testing.T) {
	store := NewRedisStore(startRedis(t), "test:")
	t.Cleanup(func() { _ = store.Destruct() })
	ctx := context.Background()
	tests := []struct {
		identity string
		limit    Limit
		allowed  int
		retry    time.Duration
	}{
		{"slow", Limit{Rate: 1, Period: time.Minute, Burst: 1}, 1, time.Minute},
		{"fast", Limit{Rate: 4, Period: time.Minute, Burst: 2}, 2, 15 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.identity, func(t *testing.T) {
			allowed := 0
			for range 10 {
				d, err := store.Take(ctx, tc.identity, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if !d.Allowed {
					// GCRA answers from Redis's clock: allow a second of slack.
					if d.RetryAfter > tc.retry || d.RetryAfter < tc.retry-time.Second {
						t.Fatalf("Retry-After %s, want about %s", d.RetryAfter, tc.retry)
					}
					break
				}
				allowed++
			}
			if allowed != tc.allowed {
				t.Fatalf("%d allowed, want %d", allowed, tc.allowed)
			}
		})
	}
}

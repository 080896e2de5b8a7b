package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestMemoryStore(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	ctx := context.Background()
	t.Run("burst then refill", func(t *testing.T) {
		limit := Limit{Rate: 2, Period: time.Second, Burst: 3}
		store := NewMemoryStore(clock)
		for i := range 3 {
			if d, _ := store.Take(ctx, "a", limit); !d.Allowed {
				t.Fatalf("request %d of the burst was refused", i+1)
			}
		}
		d, _ := store.Take(ctx, "a", limit)
		if d.Allowed || d.RetryAfter != 500*time.Millisecond {
			t.Fatalf("over the burst got %+v, want refused with 500ms", d)
		}
		if d, _ := store.Take(ctx, "b", limit); !d.Allowed {
			t.Fatal("another identity was limited by a's use")
		}
		now = now.Add(500 * time.Millisecond)
		if d, _ := store.Take(ctx, "a", limit); !d.Allowed {
			t.Fatal("a refused request used up a token: after the wait it is still refused")
		}
	})
	t.Run("idle identities are dropped", func(t *testing.T) {
		limit := Limit{Rate: 1, Period: time.Second, Burst: 1}
		store := NewMemoryStore(clock)
		for i := range sweepAt {
			_, _ = store.Take(ctx, fmt.Sprint(i), limit)
		}
		now = now.Add(time.Second)
		_, _ = store.Take(ctx, "late", limit)
		if n := store.Len(); n != 1 {
			t.Fatalf("%d identities held after they all went idle, want 1", n)
		}
	})
}

// TestMemoryStorePerIdentityLimit: each identity is counted at the limit
// given with its requests, and a changed limit applies to a bucket already
// held.
func TestMemoryStorePerIdentityLimit(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	ctx := context.Background()
	slow := Limit{Rate: 1, Period: time.Minute, Burst: 1}
	fast := Limit{Rate: 4, Period: time.Minute, Burst: 2}
	store := NewMemoryStore(clock)
	takeAll := func(identity string, limit Limit) (allowed int, retry time.Duration) {
		for range 10 {
			d, _ := store.Take(ctx, identity, limit)
			if !d.Allowed {
				return allowed, d.RetryAfter
			}
			allowed++
		}
		return allowed, 0
	}
	t.Run("each at its own limit", func(t *testing.T) {
		if n, retry := takeAll("slow", slow); n != 1 || retry != time.Minute {
			t.Fatalf("slow: %d allowed, then wait %s; want 1 and 1m", n, retry)
		}
		if n, retry := takeAll("fast", fast); n != 2 || retry != 15*time.Second {
			t.Fatalf("fast: %d allowed, then wait %s; want 2 and 15s", n, retry)
		}
	})
	t.Run("a changed limit applies to a held bucket", func(t *testing.T) {
		tighter := Limit{Rate: 1, Period: time.Hour, Burst: 1}
		if d, _ := store.Take(ctx, "fast", tighter); d.Allowed || d.RetryAfter != time.Hour {
			t.Fatalf("after tightening got %+v, want refused for 1h", d)
		}
		looser := Limit{Rate: 100, Period: time.Second, Burst: 100}
		if d, _ := store.Take(ctx, "slow", looser); d.Allowed || d.RetryAfter != 10*time.Millisecond {
			t.Fatalf("after loosening got %+v, want refused for 10ms", d)
		}
		now = now.Add(time.Second)
		if n, _ := takeAll("slow", looser); n != 10 {
			t.Fatalf("a second after loosening %d of 10 allowed", n)
		}
	})
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in     string
		rate   int
		period time.Duration
	}{
		{"100/1m", 100, time.Minute},
		{"1/24h", 1, 24 * time.Hour},
		{"0/1m", 0, 0},
		{"-1/1m", 0, 0},
		{"1/0s", 0, 0},
		{"1/25h", 0, 0},
		{"1.5/1m", 0, 0},
		{"100", 0, 0},
		{"100/minute", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			rate, period, err := ParseRate(tc.in)
			if (err == nil) != (tc.rate != 0) || rate != tc.rate || period != tc.period {
				t.Fatalf("ParseRate(%q) = %d, %s, %v", tc.in, rate, period, err)
			}
		})
	}
}

func TestLimitValidate(t *testing.T) {
	tests := []struct {
		name  string
		limit Limit
		ok    bool
	}{
		{"fine", Limit{Rate: 1, Period: time.Second, Burst: 1}, true},
		{"no rate", Limit{Period: time.Second, Burst: 1}, false},
		{"no period", Limit{Rate: 1, Burst: 1}, false},
		{"no burst", Limit{Rate: 1, Period: time.Second}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.limit.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}

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
		store := NewMemoryStore(Limit{Rate: 2, Period: time.Second, Burst: 3}, clock)
		for i := range 3 {
			if d, _ := store.Take(ctx, "a"); !d.Allowed {
				t.Fatalf("request %d of the burst was refused", i+1)
			}
		}
		d, _ := store.Take(ctx, "a")
		if d.Allowed || d.RetryAfter != 500*time.Millisecond {
			t.Fatalf("over the burst got %+v, want refused with 500ms", d)
		}
		if d, _ := store.Take(ctx, "b"); !d.Allowed {
			t.Fatal("another identity was limited by a's use")
		}
		now = now.Add(500 * time.Millisecond)
		if d, _ := store.Take(ctx, "a"); !d.Allowed {
			t.Fatal("a refused request used up a token: after the wait it is still refused")
		}
	})
	t.Run("idle identities are dropped", func(t *testing.T) {
		store := NewMemoryStore(Limit{Rate: 1, Period: time.Second, Burst: 1}, clock)
		for i := range sweepAt {
			_, _ = store.Take(ctx, fmt.Sprint(i))
		}
		now = now.Add(time.Second)
		_, _ = store.Take(ctx, "late")
		if n := store.Len(); n != 1 {
			t.Fatalf("%d identities held after they all went idle, want 1", n)
		}
	})
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

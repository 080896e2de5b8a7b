package replay

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"
)

func TestMemoryStoreExpiresWithTheToken(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	store := NewMemoryStore(2, func() time.Time { return now })
	a, b, c := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b")), sha256.Sum256([]byte("c"))
	ctx := context.Background()
	mark := func(key [32]byte, expires time.Time) (bool, error) { return store.MarkUsed(ctx, key, expires) }
	if ok, _ := mark(a, now.Add(time.Minute)); !ok {
		t.Fatal("a new key was not fresh")
	}
	if ok, _ := mark(a, now.Add(time.Minute)); ok {
		t.Fatal("a used key was fresh again")
	}
	if _, err := mark(b, now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := mark(c, now.Add(time.Minute)); err != ErrFull {
		t.Fatalf("a full store took a new key: %v", err)
	}
	now = now.Add(time.Minute) // a expires exactly now
	if ok, err := mark(c, now.Add(time.Minute)); !ok || err != nil {
		t.Fatalf("after a's expiry c got %v %v", ok, err)
	}
	if ok, _ := mark(a, now.Add(time.Minute)); ok {
		t.Fatal("the store is full of live keys, yet a was taken")
	}
	now = now.Add(2 * time.Minute)
	if ok, err := mark(a, now.Add(time.Minute)); !ok || err != nil {
		t.Fatalf("a after every expiry: %v %v", ok, err)
	}
}

package replay

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
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

// TestMemoryStoreOneWinnerPerKey: of many racing marks of one key, exactly
// one sees it fresh, whichever shard the key falls in.
func TestMemoryStoreOneWinnerPerKey(t *testing.T) {
	store := NewMemoryStore(1000, time.Now)
	expires := time.Now().Add(time.Minute)
	for i := range 8 {
		key := sha256.Sum256([]byte{byte(i)})
		var wg sync.WaitGroup
		var fresh atomic.Int64
		for range 32 {
			wg.Go(func() {
				if ok, err := store.MarkUsed(context.Background(), key, expires); err != nil {
					t.Error(err)
				} else if ok {
					fresh.Add(1)
				}
			})
		}
		wg.Wait()
		if fresh.Load() != 1 {
			t.Fatalf("key %d: %d racing marks were fresh, want 1", i, fresh.Load())
		}
	}
}

// TestMemoryStoreBoundAcrossShards: max counts every shard together, and
// entries swept after their expiry make room again.
func TestMemoryStoreBoundAcrossShards(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	store := NewMemoryStore(100, func() time.Time { return now })
	key := func(i int) [32]byte { return sha256.Sum256([]byte{byte(i), byte(i >> 8)}) }
	for i := range 100 {
		if ok, err := store.MarkUsed(context.Background(), key(i), now.Add(time.Duration(i%7+1)*time.Second)); !ok || err != nil {
			t.Fatalf("entry %d: %v %v", i, ok, err)
		}
	}
	if _, err := store.MarkUsed(context.Background(), key(100), now.Add(time.Minute)); err != ErrFull {
		t.Fatalf("101st entry: %v, want ErrFull", err)
	}
	now = now.Add(7 * time.Second) // every entry has expired
	for i := 100; i < 200; i++ {
		if ok, err := store.MarkUsed(context.Background(), key(i), now.Add(time.Minute)); !ok || err != nil {
			t.Fatalf("entry %d after the expiry: %v %v", i, ok, err)
		}
	}
	if got := store.live.Load(); got != 100 {
		t.Fatalf("%d entries counted, want 100", got)
	}
}

// TestMemoryStoreExpiryRoundsUp: an expiry within a second is remembered
// to the end of that second, never forgotten before it.
func TestMemoryStoreExpiryRoundsUp(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	now := start
	store := NewMemoryStore(10, func() time.Time { return now })
	key := sha256.Sum256([]byte("a"))
	if ok, _ := store.MarkUsed(context.Background(), key, start.Add(1500*time.Millisecond)); !ok {
		t.Fatal("a new key was not fresh")
	}
	now = start.Add(1499 * time.Millisecond)
	if ok, _ := store.MarkUsed(context.Background(), key, start.Add(time.Minute)); ok {
		t.Fatal("forgotten before its expiry")
	}
	now = start.Add(2 * time.Second)
	if ok, _ := store.MarkUsed(context.Background(), key, start.Add(time.Minute)); !ok {
		t.Fatal("remembered past the second of its expiry")
	}
}

// TestMemoryStoreHeapPerEntry holds the store to its memory budget: at most
// 64 bytes of heap per remembered signature, after a million of them.
func TestMemoryStoreHeapPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a million entries")
	}
	const entries = 1_000_000
	perEntry := heapPerEntry(t, entries)
	t.Logf("%.1f bytes of heap per entry after %d entries", perEntry, entries)
	if perEntry > 64 {
		t.Fatalf("%.1f bytes of heap per entry, over the budget of 64", perEntry)
	}
}

// TestMemoryStoreRSSPerEntry measures what the operating system sees: the
// resident memory a million entries add, in a process of its own so that
// no other test's memory is counted, built without the race detector,
// whose shadow memory would triple it. Right after filling, the memory of
// the maps the store outgrew is still resident until Go's scavenger gives
// it back; the budget is judged once the garbage has been returned.
func TestMemoryStoreRSSPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a million entries")
	}
	const entries = 1_000_000
	if os.Getenv(rssChildEnv) != "" {
		reportRSSPerEntry(t, entries)
		return
	}
	if _, err := residentBytes(); err != nil {
		t.Fatalf("resident memory is read from /proc: %v", err)
	}
	cmd := exec.Command("go", "test", "-race=false", "-count=1", "-run=^TestMemoryStoreRSSPerEntry$", "-v", ".")
	cmd.Env = append(os.Environ(), rssChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the measuring process failed: %v\n%s", err, out)
	}
	var filled, returned float64
	if _, err := fmt.Sscanf(rssLine(string(out)), rssFormat, &filled, &returned); err != nil {
		t.Fatalf("no measure in the measuring process's output: %v\n%s", err, out)
	}
	t.Logf("resident memory per entry after %d entries: %.1f B right after filling, %.1f B once freed memory is returned", entries, filled, returned)
	if returned > 64 {
		t.Fatalf("%.1f bytes of resident memory per entry, over the budget of 64", returned)
	}
}

const (
	rssChildEnv = "CHECKOUTGW_RSS_CHILD"
	rssFormat   = "rss per entry: %f filled, %f returned"
)

// rssLine is the measuring process's report line, from its marker on.
func rssLine(out string) string {
	for line := range strings.Lines(out) {
		if i := strings.Index(line, "rss per entry:"); i >= 0 {
			return line[i:]
		}
	}
	return ""
}

// reportRSSPerEntry runs in the measuring process: it fills a store and
// prints the resident memory added per entry.
func reportRSSPerEntry(t *testing.T, n int) {
	debug.FreeOSMemory() // collects first, then returns what it freed
	before, err := residentBytes()
	if err != nil {
		t.Fatal(err)
	}
	store := NewMemoryStore(n, time.Now)
	fill(t, store, n)
	runtime.GC()
	filled, err := residentBytes()
	if err != nil {
		t.Fatal(err)
	}
	debug.FreeOSMemory()
	returned, err := residentBytes()
	if err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(store)
	fmt.Printf(rssFormat+"\n", float64(filled-before)/float64(n), float64(returned-before)/float64(n))
}

// residentBytes is the process's resident set size, from /proc.
func residentBytes() (int64, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(status)) {
		if rest, found := strings.CutPrefix(line, "VmRSS:"); found {
			var kib int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kib); err != nil {
				return 0, err
			}
			return kib << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS line in /proc/self/status")
}

// fill marks n distinct keys used in store, an hour from now.
func fill(tb testing.TB, store *MemoryStore, n int) {
	expires := time.Now().Add(time.Hour)
	var seed [8]byte
	for i := range n {
		binary.BigEndian.PutUint64(seed[:], uint64(i))
		if ok, err := store.MarkUsed(context.Background(), sha256.Sum256(seed[:]), expires); !ok || err != nil {
			tb.Fatalf("entry %d: %v %v", i, ok, err)
		}
	}
}

// heapPerEntry fills a store with n entries and measures the live heap it
// added, garbage collected before and after.
func heapPerEntry(tb testing.TB, n int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	store := NewMemoryStore(n, time.Now)
	fill(tb, store, n)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(store)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// BenchmarkMemoryStore is one MarkUsed of a new key, alone and from every
// core at once; heap-B/entry is the memory budget's measure.
func BenchmarkMemoryStore(b *testing.B) {
	expires := time.Now().Add(time.Hour)
	b.Run("serial", func(b *testing.B) {
		store := NewMemoryStore(math.MaxInt, time.Now)
		var seed [8]byte
		b.ReportAllocs()
		n := uint64(0)
		for b.Loop() {
			n++
			binary.BigEndian.PutUint64(seed[:], n)
			if ok, err := store.MarkUsed(context.Background(), sha256.Sum256(seed[:]), expires); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		store := NewMemoryStore(math.MaxInt, time.Now)
		var next atomic.Uint64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var seed [8]byte
			for pb.Next() {
				binary.BigEndian.PutUint64(seed[:], next.Add(1))
				if ok, err := store.MarkUsed(context.Background(), sha256.Sum256(seed[:]), expires); !ok || err != nil {
					b.Error(ok, err)
					return
				}
			}
		})
	})
	b.Run("heap per entry", func(b *testing.B) {
		for b.Loop() {
			b.ReportMetric(heapPerEntry(b, 1_000_000), "heap-B/entry")
		}
	})
}

// TestMemoryStoreShrinksAfterABurst: once a burst of entries has expired,
// the sweeps copy each shard into a map of its new size, since a Go map
// never gives memory back by itself.
func TestMemoryStoreShrinksAfterABurst(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	store := NewMemoryStore(math.MaxInt, func() time.Time { return now })
	var seed [8]byte
	mark := func(i int, expires time.Time) {
		binary.BigEndian.PutUint64(seed[:], uint64(i))
		if ok, err := store.MarkUsed(context.Background(), sha256.Sum256(seed[:]), expires); !ok || err != nil {
			t.Fatalf("entry %d: %v %v", i, ok, err)
		}
	}
	const burst = shardCount * 2 * minRebuild
	for i := range burst {
		mark(i, now.Add(time.Second))
	}
	now = now.Add(time.Minute)
	for i := burst; i < burst+shardCount*32; i++ {
		mark(i, now.Add(time.Second))
	}
	for i := range store.shards {
		if s := &store.shards[i]; s.peak >= minRebuild || len(s.entries) >= minRebuild {
			t.Fatalf("shard %d still sized for its burst: peak %d, %d entries", i, s.peak, len(s.entries))
		}
	}
	if got := store.live.Load(); got != shardCount*32 {
		t.Fatalf("%d entries counted, want %d", got, shardCount*32)
	}
}

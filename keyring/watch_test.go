package keyring

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestWatcherReportsChangesOnce: a change of contents is reported once, a
// missing file once with its error, and the file's return as a change.
func TestWatcherReportsChangesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, []byte("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	w := WatchFiles(t.Context(), map[string][]byte{path: []byte("v1")}, func(_ string, data []byte, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			seen = append(seen, "error")
			return
		}
		seen = append(seen, string(data))
	}, zap.NewNop())
	t.Cleanup(w.Close)
	await := func(t *testing.T, want ...string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			got := append([]string(nil), seen...)
			mu.Unlock()
			if len(got) == len(want) {
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("reported %v, want %v", got, want)
					}
				}
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("not reported within 5s: want %v, got %v", want, seen)
	}
	steps := []struct {
		name string
		do   func() error
		want []string
	}{
		{"edited", func() error { return os.WriteFile(path, []byte("v2"), 0o600) }, []string{"v2"}},
		{"removed", func() error { return os.Remove(path) }, []string{"v2", "error"}},
		{"back", func() error { return os.WriteFile(path, []byte("v2"), 0o600) }, []string{"v2", "error", "v2"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := s.do(); err != nil {
				t.Fatal(err)
			}
			await(t, s.want...)
		})
	}
}

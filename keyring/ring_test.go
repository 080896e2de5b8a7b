package keyring

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

// recordedMetrics keeps what a ring and its sources report.
type recordedMetrics struct {
	mu        sync.Mutex
	refreshes map[bool]int
	loaded    map[string]int
}

func (m *recordedMetrics) CountKeyRefresh(ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refreshes[ok]++
}

func (m *recordedMetrics) SetKeysLoaded(source string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loaded[source] = n
}

func (m *recordedMetrics) CountRefreshFailure(string, string) {}
func (m *recordedMetrics) SetLastRefresh(string, time.Time)   {}

func (m *recordedMetrics) loadedFrom(source string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.loaded[source]
}

// TestRingMergesFilesAndSources: a file's kid wins over a remote one, a
// remote key for an algorithm the ring does not allow stays out, and the
// rest joins once the source has fetched.
func TestRingMergesFilesAndSources(t *testing.T) {
	fileKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	remoteSameKid, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	remote256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	remote384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	files, _, err := ParseJWKS([]byte(`{"keys":[`+publicJWK(t, fileKey, map[string]any{"kid": "shared"})+`]}`), []string{"ES256"})
	if err != nil {
		t.Fatal(err)
	}
	set := `{"keys":[` + publicJWK(t, remoteSameKid, map[string]any{"kid": "shared"}) + `,` +
		publicJWK(t, remote256, map[string]any{"kid": "remote-256"}) + `,` +
		publicJWK(t, remote384, map[string]any{"kid": "remote-384"}) + `]}`
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(set))
	}))
	t.Cleanup(server.Close)

	metrics := &recordedMetrics{refreshes: map[bool]int{}, loaded: map[string]int{}}
	ring, err := NewRing(files, []string{"ES256"}, zap.NewNop(), metrics)
	if err != nil {
		t.Fatal(err)
	}
	src := NewSource(server.URL, time.Hour, time.Second)
	t.Cleanup(func() { _ = src.Destruct() })
	ring.Add(src)
	src.Start()
	ring.Rebuild()

	deadline := time.Now().Add(5 * time.Second)
	for ring.Keys().Len() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	tests := []struct {
		kid     string
		present bool
	}{
		{"shared", true},
		{"remote-256", true},
		{"remote-384", false},
	}
	for _, tc := range tests {
		t.Run(tc.kid, func(t *testing.T) {
			key, ok := ring.Keys().ByKid(tc.kid)
			if ok != tc.present {
				t.Fatalf("present = %v, want %v", ok, tc.present)
			}
			if tc.kid == "shared" && key != files[0] {
				t.Fatal("the remote key displaced the file's")
			}
		})
	}
	if got := metrics.loadedFrom("url"); got != 1 {
		t.Errorf("keys loaded from url = %d, want 1", got)
	}
	if left := ring.Detach(); len(left) != 1 || left[0] != src {
		t.Errorf("Detach returned %d sources", len(left))
	}
}

// TestRingLookupWithoutSources: an unknown kid is judged at once when no
// source could bring it in.
func TestRingLookupWithoutSources(t *testing.T) {
	ring, err := NewRing(nil, []string{"ES256"}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ring.Lookup(t.Context(), "nobody"); ok {
		t.Fatal("found a key in an empty ring")
	}
	ring.Rebuild() // a nil Metrics counts nothing, without panicking
}

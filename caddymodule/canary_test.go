package caddymodule

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The log canary: every Caddy the harness starts logs, at Debug, through the
// documented filter into a file under canaryLogDir, and after the whole run
// TestMain searches those files for every token the tests signed, every API
// key they sent and the customer data of validBody. A test that shows an
// unfiltered leak on purpose logs elsewhere (unscannedLogDir).
var (
	canaryLogDir string
	canary       = newSecretCanary()
)

func TestMain(m *testing.M) {
	os.Exit(runWithLogCanary(m))
}

func runWithLogCanary(m *testing.M) int {
	dir, err := os.MkdirTemp("", "checkoutgw-caddy-logs-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "log canary:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	canaryLogDir = dir
	canary.recordBodyValues(validBody)
	if documentedFilterFields, err = readDocumentedFilterFields("../Caddyfile"); err != nil {
		fmt.Fprintln(os.Stderr, "log canary:", err)
		return 1
	}

	code := m.Run()
	leaks, err := canary.scan(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "log canary:", err)
		return 1
	}
	for _, leak := range leaks {
		fmt.Fprintln(os.Stderr, "log canary:", leak)
	}
	if len(leaks) > 0 {
		return 1
	}
	return code
}

// canaryLogPath is a fresh log file that the canary will search.
func canaryLogPath(t testing.TB) string {
	t.Helper()
	if canaryLogDir == "" {
		t.Fatal("no canary log directory: TestMain did not run")
	}
	name := regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(t.Name(), "_")
	f, err := os.CreateTemp(canaryLogDir, name+"-*.log")
	must(t, err)
	must(t, f.Close())
	return f.Name()
}

// unscannedLogDir is for logs that leak on purpose, as a control: the
// canary does not search it.
func unscannedLogDir(t testing.TB) string {
	t.Helper()
	return t.TempDir()
}

// canaryWindow is how many leading or trailing bytes of a long secret count
// as a leak of it: enough to rule out chance, few enough to catch a secret
// that was cut or split.
const canaryWindow = 16

// canaryMinLength: shorter values are too common to search for.
const canaryMinLength = 6

// secretCanary is the set of secrets the tests used, by kind.
type secretCanary struct {
	mu      sync.Mutex
	secrets map[string]string // value -> kind
}

func newSecretCanary() *secretCanary {
	return &secretCanary{secrets: make(map[string]string)}
}

func (c *secretCanary) record(kind, value string) {
	if len(value) < canaryMinLength {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secrets[value] = kind
}

// recordToken records a token and each of its parts, so that a part logged
// alone is found too.
func (c *secretCanary) recordToken(token string) {
	c.record("a token", token)
	for part := range strings.SplitSeq(token, ".") {
		if len(part) >= canaryWindow {
			c.record("a token part", part)
		}
	}
}

// recordBodyValues records the distinctive string values of a JSON body:
// names, ID numbers, dates, addresses (short codes like "US" would match
// by chance).
func (c *secretCanary) recordBodyValues(body string) {
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, member := range v {
				walk(member)
			}
		case []any:
			for _, item := range v {
				walk(item)
			}
		case string:
			if len(v) >= 8 {
				c.record("a body value", v)
			}
		}
	}
	var parsed any
	if err := json.Unmarshal([]byte(body), &parsed); err != nil {
		panic(fmt.Sprintf("log canary: the body is not JSON: %v", err))
	}
	walk(parsed)
}

// scan searches every file under dir for the recorded secrets and returns
// one line per file and secret found, naming the secret abbreviated.
func (c *secretCanary) scan(dir string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	long := make(map[string]string) // a leading or trailing window -> the secret
	var short []string
	for secret := range c.secrets {
		if len(secret) < canaryWindow {
			short = append(short, secret)
			continue
		}
		long[secret[:canaryWindow]] = secret
		long[secret[len(secret)-canaryWindow:]] = secret
	}
	var leaks []string
	err := filepath.WalkDir(dir, func(path string, entry os.DirEntry, err error) error {
		if err != nil || entry.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		text := string(data)
		found := make(map[string]bool)
		for i := 0; i+canaryWindow <= len(text); i++ {
			if secret, ok := long[text[i:i+canaryWindow]]; ok {
				found[secret] = true
			}
		}
		for _, secret := range short {
			if strings.Contains(text, secret) {
				found[secret] = true
			}
		}
		name, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		for _, secret := range slices.Sorted(maps.Keys(found)) {
			leaks = append(leaks, fmt.Sprintf("%s carries %s: %s", name, c.secrets[secret], abbreviateSecret(secret)))
		}
		return nil
	})
	return leaks, err
}

// abbreviateSecret names a secret without writing it out: enough to tell
// which test used it.
func abbreviateSecret(s string) string {
	if len(s) <= canaryWindow {
		return fmt.Sprintf("%.3s… (%d bytes)", s, len(s))
	}
	return fmt.Sprintf("%.6s…%s (%d bytes)", s, s[len(s)-4:], len(s))
}

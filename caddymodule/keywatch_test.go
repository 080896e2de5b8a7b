package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// keyChangeBound is how soon a key change must verify nothing, by any path.
const keyChangeBound = 5 * time.Second

// adminGateway is a test Caddy with its admin endpoint on a free port.
type adminGateway struct {
	*gateway
	admin string
}

func startAdminCaddy(t *testing.T, siteBody string) *adminGateway {
	t.Helper()
	port := freePort(t)
	gw := startCaddyWith(t, fmt.Sprintf("admin 127.0.0.1:%d", port), siteBody)
	return &adminGateway{gateway: gw, admin: fmt.Sprintf("http://127.0.0.1:%d", port)}
}

// adminCall sends a request to the admin endpoint and returns the status
// and body.
func (g *adminGateway) adminCall(t *testing.T, method, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, g.admin+path, nil)
	must(t, err)
	resp := do(t, req)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	return resp.StatusCode, string(body)
}

// listedKids are the kids GET /checkout/keys shows, over every handler
// and source.
func (g *adminGateway) listedKids(t *testing.T) []string {
	t.Helper()
	status, body := g.adminCall(t, http.MethodGet, "/checkout/keys")
	if status != http.StatusOK {
		t.Fatalf("GET /checkout/keys: %d %s", status, body)
	}
	var out struct {
		Gateways []struct {
			KeySets []struct {
				Keys []struct{ Kid string } `json:"keys"`
			} `json:"key_sets"`
		} `json:"gateways"`
	}
	must(t, json.Unmarshal([]byte(body), &out))
	var kids []string
	for _, g := range out.Gateways {
		for _, ks := range g.KeySets {
			for _, k := range ks.Keys {
				kids = append(kids, k.Kid)
			}
		}
	}
	return kids
}

// awaitAccepted is awaitKeys that also waits out a connection the
// freshly loaded Caddy drops, as one on a just reused port can be.
func awaitAccepted(t *testing.T, gw *gateway, k *testKey) {
	t.Helper()
	eventually(t, keyChangeBound, "the key set loads", func() bool {
		req, err := http.NewRequest(http.MethodPost, gw.url+testPath, strings.NewReader(validBody))
		must(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Api-Signature", k.sign(t, validClaims(validBody), false))
		resp, err := testClient.Do(req)
		return err == nil && statusOf(t, resp) == http.StatusOK
	})
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	must(t, os.WriteFile(path, data, 0o600))
}

// watcherGoroutines counts running key-file watchers.
func watcherGoroutines() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return strings.Count(string(buf[:n]), "keyring.(*Watcher).run(")
}

// TestKeyFileChangesApplyWithoutReload: a key removed from a jwks_file
// verifies nothing within the bound, whether the file is written in place,
// replaced by rename or swapped by a Kubernetes-style symlink flip; the
// admin listing drops it; and no watcher outlives its config.
func TestKeyFileChangesApplyWithoutReload(t *testing.T) {
	k1, k2 := newTestKey(t, "k1", "ES384"), newTestKey(t, "k2", "ES384")
	both, onlyK2 := jwksJSON(t, k1, k2), jwksJSON(t, k2)
	cases := []struct {
		name string
		// setUp writes the first contents and returns the configured path
		// and how to replace the contents.
		setUp func(t *testing.T, dir string) (string, func([]byte))
	}{
		{"written in place", func(t *testing.T, dir string) (string, func([]byte)) {
			path := filepath.Join(dir, "keys.json")
			writeFile(t, path, both)
			return path, func(data []byte) { writeFile(t, path, data) }
		}},
		{"replaced by rename", func(t *testing.T, dir string) (string, func([]byte)) {
			path := filepath.Join(dir, "keys.json")
			writeFile(t, path, both)
			return path, func(data []byte) {
				tmp := filepath.Join(dir, ".keys.json.tmp")
				writeFile(t, tmp, data)
				must(t, os.Rename(tmp, path))
			}
		}},
		{"symlink flip", func(t *testing.T, dir string) (string, func([]byte)) {
			// The layout of a Kubernetes secret volume: keys.json ->
			// ..data/keys.json, ..data -> a timestamped directory.
			must(t, os.Mkdir(filepath.Join(dir, "..v1"), 0o700))
			writeFile(t, filepath.Join(dir, "..v1", "keys.json"), both)
			must(t, os.Symlink("..v1", filepath.Join(dir, "..data")))
			path := filepath.Join(dir, "keys.json")
			must(t, os.Symlink(filepath.Join("..data", "keys.json"), path))
			return path, func(data []byte) {
				must(t, os.Mkdir(filepath.Join(dir, "..v2"), 0o700))
				writeFile(t, filepath.Join(dir, "..v2", "keys.json"), data)
				must(t, os.Symlink("..v2", filepath.Join(dir, "..data_tmp")))
				must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
			}
		}},
	}
	up := newUpstream(t, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, replace := tc.setUp(t, t.TempDir())
			gw := startAdminCaddy(t, gatewaySite(up.hostPort(), "\t\t\tjwks_file "+path))
			if got := statusFor(t, gw.gateway, k1); got != http.StatusOK {
				t.Fatalf("k1 got %d before the change", got)
			}
			replace(onlyK2)
			took := eventually(t, keyChangeBound, "the removed key verifies nothing", func() bool {
				return statusFor(t, gw.gateway, k1) == http.StatusUnauthorized
			})
			t.Logf("took effect in %s", took)
			if got := statusFor(t, gw.gateway, k2); got != http.StatusOK {
				t.Fatalf("the remaining key got %d", got)
			}
			if kids := gw.listedKids(t); strings.Join(kids, ",") != "k2" {
				t.Fatalf("listed kids %v, want [k2]", kids)
			}
			if !strings.Contains(gw.logs(t), `"msg":"signing keys loaded"`) {
				t.Error("no Info line with the kids loaded")
			}
		})
	}
	ks := newKeyServer(t)
	ks.publish(t, k1)
	t.Cleanup(func() { _ = caddy.Stop() })
	reloadCaddyfile(t, &gateway{logPath: canaryLogPath(t), port: freePort(t)}, urlGatewaySite(up.hostPort(), ks.URL, "\t\t\t\trefresh 1h"))
	eventually(t, keyChangeBound, "no watcher left once no config names a key file", func() bool { return watcherGoroutines() == 0 })
}

// TestBrokenKeyFileEditKeepsLastGoodKeys: an edit caught half-way, or one
// that leaves no usable key, is refused with an Error line and a count;
// the last good keys keep verifying, and the next good edit applies.
func TestBrokenKeyFileEditKeepsLastGoodKeys(t *testing.T) {
	k1, k2 := newTestKey(t, "k1", "ES384"), newTestKey(t, "k2", "ES384")
	path := writeJWKS(t, k1)
	up := newUpstream(t, nil)
	gw := startAdminCaddy(t, gatewaySite(up.hostPort(), "\t\t\tjwks_file "+path))
	good := jwksJSON(t, k1)
	edits := []struct {
		name, cause string
		data        []byte
	}{
		{"half written", "parse", good[:len(good)/2]},
		{"no usable key", "empty", []byte(`{"keys":[]}`)},
		{"repeated kid", "duplicate_kid", jwksJSON(t, k1, newTestKey(t, "k1", "ES384"))},
	}
	for i, e := range edits {
		t.Run(e.name, func(t *testing.T) {
			writeFile(t, path, e.data)
			eventually(t, keyChangeBound, "the refusal is logged", func() bool {
				return strings.Count(gw.logs(t), "key file change refused; keeping the last good keys") > i
			})
			if got := statusFor(t, gw.gateway, k1); got != http.StatusOK {
				t.Fatalf("the last good key got %d after a broken edit", got)
			}
			_, metrics := gw.adminCall(t, http.MethodGet, "/metrics")
			if series := fmt.Sprintf(`caddy_checkout_gateway_key_refresh_failures_total{cause=%q,source="file"} 1`, e.cause); !strings.Contains(metrics, series) {
				t.Errorf("no %s in /metrics", series)
			}
		})
	}
	if !strings.Contains(gw.logs(t), `"level":"error"`) {
		t.Error("the refusals are not at Error")
	}
	writeFile(t, path, jwksJSON(t, k2))
	eventually(t, keyChangeBound, "the next good edit applies", func() bool { return statusFor(t, gw.gateway, k2) == http.StatusOK })
	if got := statusFor(t, gw.gateway, k1); got != http.StatusUnauthorized {
		t.Fatalf("a key removed by a good edit got %d", got)
	}
}

// TestAPIKeysUnbinding: an API key unbound in the api_keys file verifies
// nothing within the bound; an edit that would unbind every API key is
// refused; the listing names API keys by 8 hex digits of their hash only.
func TestAPIKeysUnbinding(t *testing.T) {
	keyA, keyB := newTestKey(t, "business-a", "ES384"), newTestKey(t, "business-b", "ES384")
	hashA, hashB := sha256Hex("ak_a_secret"), sha256Hex("ak_b_secret")
	apiKeys := filepath.Join(t.TempDir(), "api-keys.json")
	writeFile(t, apiKeys, []byte(fmt.Sprintf(`{%q:["business-a"],%q:["business-b"]}`, hashA, hashB)))
	up := newUpstream(t, nil)
	gw := startAdminCaddy(t, gatewaySite(up.hostPort(), "\t\t\tjwks_file "+writeJWKS(t, keyA, keyB)+"\n\t\t\tapi_keys "+apiKeys))
	send := func(k *testKey, apiKey string) int {
		return statusOf(t, gw.post(t, testPath, k.sign(t, validClaims(validBody), false), validBody, "X-Api-Key", apiKey))
	}
	if got := send(keyB, "ak_b_secret"); got != http.StatusOK {
		t.Fatalf("B got %d before the change", got)
	}
	writeFile(t, apiKeys, []byte(fmt.Sprintf(`{%q:["business-a"]}`, hashA)))
	took := eventually(t, keyChangeBound, "B's unbound API key verifies nothing", func() bool { return send(keyB, "ak_b_secret") == http.StatusUnauthorized })
	t.Logf("took effect in %s", took)

	writeFile(t, apiKeys, []byte(`{}`))
	eventually(t, keyChangeBound, "the emptying edit is refused", func() bool {
		return strings.Contains(gw.logs(t), "api_keys change refused; keeping the last good bindings")
	})
	if got := send(keyA, "ak_a_secret"); got != http.StatusOK {
		t.Fatalf("A got %d after an edit that would unbind everyone", got)
	}
	_, listing := gw.adminCall(t, http.MethodGet, "/checkout/keys")
	if !strings.Contains(listing, `"api_key_sha256_prefix":"`+hashA[:8]+`"`) || strings.Contains(listing, hashA[:9]) || strings.Contains(listing, hashB[:8]) {
		t.Fatalf("the listing does not show exactly A's 8-digit hash prefix: %s", listing)
	}
}

// TestReloadShortensRefresh: a reload that shortens a jwks_url's refresh
// applies it, so a key dropped from the served set afterwards verifies
// nothing within the bound.
func TestReloadShortensRefresh(t *testing.T) {
	k1, k2 := newTestKey(t, "k1", "ES384"), newTestKey(t, "k2", "ES384")
	ks := newKeyServer(t)
	ks.publish(t, k1, k2)
	up := newUpstream(t, nil)
	gw := startCaddy(t, urlGatewaySite(up.hostPort(), ks.URL, "\t\t\t\trefresh 1h"))
	awaitAccepted(t, gw, k1)
	before := ks.fetches.Load()
	reloadCaddyfile(t, gw, urlGatewaySite(up.hostPort(), ks.URL, "\t\t\t\trefresh 1s"))
	awaitNewListener(t, gw)
	eventually(t, keyChangeBound, "the reload fetches once", func() bool { return ks.fetches.Load() > before })
	ks.publish(t, k2)
	took := eventually(t, keyChangeBound, "the dropped key verifies nothing", func() bool { return statusFor(t, gw, k1) == http.StatusUnauthorized })
	t.Logf("took effect in %s", took)
}

// TestReloadFetchesAtOnce: a reload naming a jwks_url fetches it, so a
// revocation is picked up with no wait for the refresh interval.
func TestReloadFetchesAtOnce(t *testing.T) {
	k1, k2 := newTestKey(t, "k1", "ES384"), newTestKey(t, "k2", "ES384")
	ks := newKeyServer(t)
	ks.publish(t, k1, k2)
	up := newUpstream(t, nil)
	site := urlGatewaySite(up.hostPort(), ks.URL, "\t\t\t\trefresh 1h")
	gw := startCaddy(t, site)
	awaitAccepted(t, gw, k1)
	ks.publish(t, k2)
	reloadCaddyfile(t, gw, site+"\n\t# reloaded")
	awaitNewListener(t, gw)
	took := eventually(t, keyChangeBound, "the dropped key verifies nothing", func() bool { return statusFor(t, gw, k1) == http.StatusUnauthorized })
	t.Logf("took effect in %s", took)
}

// TestAdminRefresh: after the served set drops a key, POST
// /checkout/keys/refresh makes it verify nothing and leave the listing.
func TestAdminRefresh(t *testing.T) {
	k1, k2 := newTestKey(t, "k1", "ES384"), newTestKey(t, "k2", "ES384")
	ks := newKeyServer(t)
	ks.publish(t, k1, k2)
	up := newUpstream(t, nil)
	gw := startAdminCaddy(t, urlGatewaySite(up.hostPort(), ks.URL, "\t\t\t\trefresh 1h"))
	awaitKeys(t, gw.gateway, k1)
	if kids := gw.listedKids(t); strings.Join(kids, ",") != "k1,k2" {
		t.Fatalf("listed kids %v before the refresh", kids)
	}
	ks.publish(t, k2)
	start := time.Now()
	status, body := gw.adminCall(t, http.MethodPost, "/checkout/keys/refresh")
	if status != http.StatusOK || !strings.Contains(body, `"kind":"url"`) || !strings.Contains(body, `"result":"ok"`) {
		t.Fatalf("refresh answered %d %s", status, body)
	}
	if got := statusFor(t, gw.gateway, k1); got != http.StatusUnauthorized {
		t.Fatalf("the dropped key got %d after the refresh", got)
	}
	if took := time.Since(start); took > keyChangeBound {
		t.Fatalf("the refresh took %s", took)
	}
	if kids := gw.listedKids(t); strings.Join(kids, ",") != "k2" {
		t.Fatalf("listed kids %v after the refresh, want [k2]", kids)
	}
	if status, _ := gw.adminCall(t, http.MethodGet, "/checkout/keys/refresh"); status != http.StatusMethodNotAllowed {
		t.Errorf("GET on the refresh answered %d", status)
	}
	ks.serve(http.StatusInternalServerError, []byte("down"))
	if status, body := gw.adminCall(t, http.MethodPost, "/checkout/keys/refresh"); status != http.StatusBadGateway || !strings.Contains(body, "status 500") {
		t.Fatalf("a failing refresh answered %d %s", status, body)
	}
	if got := statusFor(t, gw.gateway, k2); got != http.StatusOK {
		t.Fatalf("the last good key got %d after a failed refresh", got)
	}
}

// TestReadiness: 503 with a reason while no key is loaded (the key server
// down at start), 200 within the bound once the first key arrives.
func TestReadiness(t *testing.T) {
	k1 := newTestKey(t, "k1", "ES384")
	ks := newKeyServer(t)
	ks.serve(http.StatusServiceUnavailable, []byte("down"))
	up := newUpstream(t, nil)
	gw := startAdminCaddy(t, urlGatewaySite(up.hostPort(), ks.URL, "\t\t\t\trefresh 1h"))
	eventually(t, keyChangeBound, "a failed first fetch", func() bool { return ks.fetches.Load() >= 1 })
	status, body := gw.adminCall(t, http.MethodGet, "/checkout/ready")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "no signing key loaded") {
		t.Fatalf("ready before any key: %d %s", status, body)
	}
	ks.publish(t, k1)
	took := eventually(t, keyChangeBound, "ready once a key is loaded", func() bool {
		status, _ := gw.adminCall(t, http.MethodGet, "/checkout/ready")
		return status == http.StatusOK
	})
	t.Logf("ready %s after the key server came back", took)
	if !strings.Contains(gw.logs(t), "key set source recovered") {
		t.Error("no line says the source recovered")
	}
}

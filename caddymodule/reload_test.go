package caddymodule

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestReloadUnderLoad reloads the config while 1,000 requests are in flight:
// none is lost, the URL's refresher is shared across the reload and stops
// once no config names the URL, and the goroutine count returns to its
// baseline.
func TestReloadUnderLoad(t *testing.T) {
	eventually(t, 10*time.Second, "no refresher left from earlier tests", func() bool { return refresherGoroutines() == 0 })
	k1 := newTestKey(t, "k1", "ES256")
	ks := newKeyServer(t)
	ks.publish(t, k1)
	release := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"HostedURL":"x"}`))
	})
	// The upstream holds every request until all 1,000 are in flight, which
	// takes a while under the race detector.
	site := strings.Replace(urlGatewaySite(up.hostPort(), ks.URL, "\t\t\t\trefresh 1h"), "response_header_timeout 2s", "response_header_timeout 60s", 1)
	gw := startCaddy(t, site)
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1000}}
	defer client.CloseIdleConnections()
	send := func() (int, error) {
		req, _ := http.NewRequest(http.MethodPost, gw.url+testPath, strings.NewReader(validBody))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Api-Signature", k1.sign(t, validClaims(validBody), false))
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	close(release) // the warm-up request must not wait
	eventually(t, 5*time.Second, "the key set loads", func() bool { code, _ := send(); return code == http.StatusOK })
	release = make(chan struct{})
	client.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	baseline := runtime.NumGoroutine()
	if n := refresherGoroutines(); n != 1 {
		t.Fatalf("%d refreshers for one URL", n)
	}

	const inFlight = 1000
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, err := send(); err == nil && code == http.StatusOK {
				ok.Add(1)
			} else {
				failed.Add(1)
				t.Logf("lost: %d %v", code, err)
			}
		}()
	}
	eventually(t, 30*time.Second, "all requests in flight at the upstream", func() bool { return len(up.received()) >= inFlight })
	reloadCaddyfile(t, gw, site+"\n\t# reloaded")
	close(release)
	wg.Wait()
	if ok.Load() != inFlight {
		// Say why: the gateway's and reverse_proxy's lines for the losses.
		for _, line := range strings.Split(gw.logs(t), "\n") {
			if strings.Contains(line, `"level":"error"`) || strings.Contains(line, `"msg":"request refused"`) {
				t.Log(line[:min(len(line), 600)])
			}
		}
		t.Fatalf("%d of %d requests answered 200 across the reload (%d failed)", ok.Load(), inFlight, failed.Load())
	}
	if code, err := send(); err != nil || code != http.StatusOK {
		t.Fatalf("after the reload: %d %v", code, err)
	}
	if n := refresherGoroutines(); n != 1 {
		t.Errorf("%d refreshers after a reload naming the same URL, want 1", n)
	}
	client.CloseIdleConnections()
	eventually(t, 15*time.Second, fmt.Sprintf("goroutines back to the baseline of %d", baseline), func() bool {
		return runtime.NumGoroutine() <= baseline+2
	})

	reloadCaddyfile(t, gw, gatewaySite(up.hostPort(), "\t\t\tjwks_file "+writeJWKS(t, k1)))
	eventually(t, 5*time.Second, "the refresher stops once no config names its URL", func() bool { return refresherGoroutines() == 0 })
}

// reloadCaddyfile loads a new site body on the running test Caddy's port.
func reloadCaddyfile(t *testing.T, gw *gateway, siteBody string) {
	t.Helper()
	caddyfileText := testCaddyfile("admin off", gw.logPath, gw.port, siteBody)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfileText), nil)
	must(t, err)
	loadConfig(t, cfg)
}

// awaitNewListener waits until fresh connections reach the reloaded
// server. Caddy binds the new listener beside the old one (SO_REUSEPORT)
// and closes the old one after; a connection the kernel queued on the old
// socket in that window is reset, which a test must not take for a
// refusal.
func awaitNewListener(t *testing.T, gw *gateway) {
	t.Helper()
	inARow := 0
	eventually(t, 5*time.Second, "the reloaded server answers fresh connections", func() bool {
		req, err := http.NewRequest(http.MethodGet, gw.url+"/", nil)
		must(t, err)
		req.Close = true
		if resp, err := testClient.Do(req); err == nil {
			_ = statusOf(t, resp)
			inARow++
		} else {
			inARow = 0
		}
		return inARow == 3
	})
}

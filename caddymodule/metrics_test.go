package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
)

// TestMetricsOnAdminEndpoint sends a known mix of requests and reads the
// counts back from the admin /metrics endpoint of the running Caddy.
func TestMetricsOnAdminEndpoint(t *testing.T) {
	f := &verdictFixture{k384: newTestKey(t, "k384", "ES384"), stranger: newTestKey(t, "k384", "ES384")}
	f.up = newUpstream(t, nil)
	adminPort := freePort(t)
	f.gw = startCaddyWith(t, fmt.Sprintf("admin 127.0.0.1:%d", adminPort), gatewaySite(f.up.hostPort(), "\t\t\tjwks_file "+writeJWKS(t, f.k384)))
	send := func(token string, times int) {
		for range times {
			resp := f.gw.post(t, testPath, token, validBody)
			resp.Body.Close()
		}
	}
	send(f.k384.sign(t, validClaims(validBody), false), 3)
	send("", 2)
	send("not-a-token", 1)
	send(f.stranger.sign(t, validClaims(validBody), false), 4)

	resp, err := testClient.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", adminPort))
	must(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for series, want := range map[string]float64{
		`caddy_checkout_gateway_requests_total{handler="CreateManagedSession",outcome="accepted",reason=""}`:                 3,
		`caddy_checkout_gateway_requests_total{handler="CreateManagedSession",outcome="refused",reason="token_missing"}`:     2,
		`caddy_checkout_gateway_requests_total{handler="CreateManagedSession",outcome="refused",reason="token_malformed"}`:   1,
		`caddy_checkout_gateway_requests_total{handler="CreateManagedSession",outcome="refused",reason="signature_invalid"}`: 4,
		`caddy_checkout_gateway_signature_verification_seconds_count`:                                                        7,
		`caddy_checkout_gateway_keys_loaded{handler="CreateManagedSession",source="file"}`:                                   1,
	} {
		m := regexp.MustCompile(regexp.QuoteMeta(series) + ` (\S+)`).FindSubmatch(body)
		if m == nil {
			t.Errorf("no %s in /metrics", series)
			continue
		}
		if got, _ := strconv.ParseFloat(string(m[1]), 64); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", regexp.MustCompile(`(?m)^caddy_checkout.*$`).FindAll(body, -1))
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics answered %d", resp.StatusCode)
	}
}

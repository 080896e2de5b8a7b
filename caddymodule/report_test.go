package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
)

// adminFixture is a verdict fixture whose Caddy serves /metrics on an admin
// port.
func adminFixture(t *testing.T, options string) (*verdictFixture, int) {
	f := &verdictFixture{k384: newTestKey(t, "k384", "ES384"), k256: newTestKey(t, "k256", "ES256"), stranger: newTestKey(t, "k384", "ES384")}
	f.up = newUpstream(t, nil)
	adminPort := freePort(t)
	f.gw = startCaddyWith(t, fmt.Sprintf("admin 127.0.0.1:%d", adminPort), gatewaySite(f.up.hostPort(), "\t\t\tjwks_file "+writeJWKS(t, f.k384, f.k256)+"\n\t\t\tbody_read_timeout 1s\n"+options))
	return f, adminPort
}

// metricValue reads one series from the admin /metrics endpoint; 0 when
// absent.
func metricValue(t *testing.T, adminPort int, series string) float64 {
	t.Helper()
	resp, err := testClient.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", adminPort))
	must(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(regexp.QuoteMeta(series) + ` (\S+)`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func reportedSeries(r envelope.Reason) string {
	return fmt.Sprintf(`caddy_checkout_gateway_requests_total{handler="CreateManagedSession",outcome="reported",reason="%s"}`, r)
}

// TestReportOnly sends would-be refusals of every covered group through a
// gateway with `report_only`: each is forwarded unchanged and counted under
// its reasons; the gateway's own limits still refuse.
func TestReportOnly(t *testing.T) {
	f, adminPort := adminFixture(t, "\t\t\treport_only\n\t\t\treplay_protection memory\n")
	k := f.k384
	now := time.Now().Unix()
	signed := func(edit func(c map[string]any)) string { return k.sign(t, claimsWith(validBody, edit), false) }
	noEdit := func(map[string]any) {}
	tests := []struct {
		name     string
		send     func() *http.Response
		reasons  []envelope.Reason // every reason counted, in order
		keyIDSet bool              // the upstream is told the key
	}{
		{"token missing", func() *http.Response { return f.gw.post(t, testPath, "", validBody) }, []envelope.Reason{envelope.ReasonTokenMissing}, false},
		{"token malformed", func() *http.Response { return f.gw.post(t, testPath, "a.b", validBody) }, []envelope.Reason{envelope.ReasonTokenMalformed}, false},
		{"kid unknown", func() *http.Response {
			return f.gw.post(t, testPath, k.signRaw(t, `{"alg":"ES384","kid":"k999"}`, mustJSON(t, validClaims(validBody))), validBody)
		}, []envelope.Reason{envelope.ReasonKidUnknown}, false},
		{"alg not allowed", func() *http.Response {
			return f.gw.post(t, testPath, k.signRaw(t, `{"alg":"ES256","kid":"k384"}`, mustJSON(t, validClaims(validBody))), validBody)
		}, []envelope.Reason{envelope.ReasonAlgNotAllowed}, false},
		{"signature by another key", func() *http.Response {
			return f.gw.post(t, testPath, f.stranger.sign(t, validClaims(validBody), false), validBody)
		}, []envelope.Reason{envelope.ReasonSignatureInvalid}, false},
		{"expired and path mismatch, all counted", func() *http.Response {
			return f.gw.post(t, testPath, signed(func(c map[string]any) { c["iat"], c["exp"], c["path"] = now-600, now-300, "/other" }), validBody)
		}, []envelope.Reason{envelope.ReasonTokenExpired, envelope.ReasonPathMismatch}, false},
		{"audience", func() *http.Response {
			return f.gw.post(t, testPath, signed(func(c map[string]any) { c["aud"] = "x" }), validBody)
		}, []envelope.Reason{envelope.ReasonAudience}, false},
		{"query mismatch", func() *http.Response { return f.gw.post(t, testPath+"?a=1", signed(noEdit), validBody) }, []envelope.Reason{envelope.ReasonQueryMismatch}, false},
		{"bodyHash mismatch", func() *http.Response {
			return f.gw.post(t, testPath, signed(noEdit), strings.Replace(validBody, "Quintessa", "Quintessb", 1))
		}, []envelope.Reason{envelope.ReasonBodyHashMismatch}, false},
		{"media type and schema", func() *http.Response {
			body := `{"CustomerID":""}`
			req, _ := http.NewRequest(http.MethodPost, f.gw.url+testPath, strings.NewReader(body))
			req.Header.Set("Api-Signature", k.sign(t, validClaims(body), false))
			req.Header.Set("Content-Type", "text/plain")
			return do(t, req)
		}, []envelope.Reason{envelope.ReasonMediaType, envelope.ReasonSchema}, true},
		{"body not JSON", func() *http.Response {
			return f.gw.post(t, testPath, k.sign(t, validClaims("{"), false), "{")
		}, []envelope.Reason{envelope.ReasonBodyNotJSON}, true},
		{"client's own key id removed", func() *http.Response {
			return f.gw.post(t, testPath, "", validBody, "X-Checkout-Key-ID", "k384")
		}, []envelope.Reason{envelope.ReasonTokenMissing}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.up.reset()
			before := make([]float64, len(tc.reasons))
			for i, r := range tc.reasons {
				before[i] = metricValue(t, adminPort, reportedSeries(r))
			}
			resp := tc.send()
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("got %d, want the request forwarded", resp.StatusCode)
			}
			got := f.up.received()
			if len(got) != 1 {
				t.Fatalf("the upstream saw %d requests", len(got))
			}
			if keyID := got[0].header.Get("X-Checkout-Key-ID"); (keyID != "") != tc.keyIDSet {
				t.Errorf("X-Checkout-Key-ID = %q at the upstream", keyID)
			}
			for i, r := range tc.reasons {
				if after := metricValue(t, adminPort, reportedSeries(r)); after != before[i]+1 {
					t.Errorf("reported %s went from %v to %v", r, before[i], after)
				}
			}
		})
	}
	t.Run("replay reported", func(t *testing.T) {
		tok := signed(func(c map[string]any) { c["jti"] = "replay-reported" })
		for range 2 {
			resp := f.gw.post(t, testPath, tok, validBody)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("got %d", resp.StatusCode)
			}
		}
		if got := metricValue(t, adminPort, reportedSeries(envelope.ReasonReplayed)); got != 1 {
			t.Fatalf("reported replayed = %v, want 1", got)
		}
	})
	t.Run("logged at warn with the kid", func(t *testing.T) {
		logs := f.gw.logs(t)
		if !regexp.MustCompile(`"level":"warn".*"msg":"request would be refused; forwarded \(report_only\)".*"reason":"token_expired".*"kid":"k384"`).MatchString(logs) {
			t.Fatal("no Warn line with reason and kid for the expired token")
		}
	})
	enforced := []struct {
		name   string
		send   func() *http.Response
		status int
	}{
		{"path dot segment", func() *http.Response {
			return f.gw.rawRequest(t, "POST /checkout/./manage HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
		}, 400},
		{"method GET", func() *http.Response {
			req, _ := http.NewRequest(http.MethodGet, f.gw.url+testPath, nil)
			return do(t, req)
		}, 405},
		{"body over the limit", func() *http.Response {
			body := strings.Repeat(" ", 64<<10) + validBody
			return f.gw.post(t, testPath, k.sign(t, validClaims(body), false), body)
		}, 413},
		{"body not complete in time", func() *http.Response {
			return f.gw.rawRequest(t, "POST "+testPath+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "+fmt.Sprint(len(validBody))+"\r\n\r\n"+validBody[:20])
		}, 408},
		{"upgrade", func() *http.Response { return f.gw.post(t, testPath, "", validBody, "Upgrade", "h2c") }, 400},
	}
	for _, tc := range enforced {
		t.Run("enforced "+tc.name, func(t *testing.T) {
			f.up.reset()
			resp := tc.send()
			decodedEnvelope(t, resp)
			if resp.StatusCode != tc.status || len(f.up.received()) != 0 {
				t.Fatalf("got %d with %d forwarded, want %d and none", resp.StatusCode, len(f.up.received()), tc.status)
			}
		})
	}
}

// TestReportOnlyOneGroup: groups not named are enforced.
func TestReportOnlyOneGroup(t *testing.T) {
	f, _ := adminFixture(t, "\t\t\treport_only body\n")
	body := `{"CustomerID":""}`
	if got := statusOf(t, f.gw.post(t, testPath, f.k384.sign(t, validClaims(body), false), body)); got != http.StatusOK {
		t.Fatalf("a schema failure under report_only body got %d", got)
	}
	resp := f.gw.post(t, testPath, "", validBody)
	if decodedEnvelope(t, resp); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a missing token under report_only body got %d", resp.StatusCode)
	}
}

package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestNoCustomerDataInLogsOrAnswers sends accepted and refused requests that
// carry recognisable customer data and tokens, then searches every log line
// and every answer for them.
func TestNoCustomerDataInLogsOrAnswers(t *testing.T) {
	f := newVerdictFixture(t, "")
	secrets := []string{"Quintessa", "Marchbanks", "PZ9918273", "Evergreen", "cust-4471-zebra", "1987-06-30"}
	badBody := strings.Replace(validBody, `"IDType":"Passport"`, `"IDType":"PZ9918273-Passport"`, 1)
	badBody = strings.Replace(badBody, `"FirstName":"Quintessa"`, `"FirstName":"`+strings.Repeat("Quintessa", 6)+`"`, 1)
	badBody = strings.Replace(badBody, `"DateOfBirth":"1987-06-30"`, `"DateOfBirth":"1987-06-31"`, 1)
	badBody = strings.Replace(badBody, `"State":"OR"`, `"State":"Evergreen"`, 1)
	var tokens []string
	var answers []string
	send := func(path, token, body string) {
		resp := f.gw.post(t, path, token, body)
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answers = append(answers, string(data))
	}
	good := f.k384.sign(t, validClaims(validBody), false)
	tokens = append(tokens, good)
	send(testPath, good, validBody)

	bad := f.k384.sign(t, validClaims(badBody), false)
	tokens = append(tokens, bad)
	send(testPath, bad, badBody)

	forged := f.stranger.sign(t, validClaims(validBody), false)
	tokens = append(tokens, forged)
	send(testPath, forged, validBody)

	send(testPath, good, strings.Replace(validBody, "Quintessa", "Quintessb", 1))
	send(testPath, f.k384.sign(t, validClaims(`{"CustomerID":"cust-4471-zebra","CustomerID":"x"}`), false), `{"CustomerID":"cust-4471-zebra","CustomerID":"x"}`)

	if !strings.Contains(answers[1], "Customer.Identities[0].IDType") {
		t.Fatalf("the schema answer lacks the field path: %s", answers[1])
	}
	logs := f.gw.logs(t)
	for _, needle := range append(secrets, tokens...) {
		for i, a := range answers[1:] {
			if strings.Contains(a, needle) {
				t.Errorf("answer %d carries %q: %s", i+1, abbreviate(needle), a)
			}
		}
		if strings.Contains(logs, needle) {
			t.Errorf("the logs carry %q", abbreviate(needle))
		}
	}
	for _, part := range strings.Split(good, ".") {
		if strings.Contains(logs, part) {
			t.Errorf("the logs carry a part of a token")
		}
	}
	if n := strings.Count(logs, `"msg":"request refused"`); n != 4 {
		t.Errorf("%d refusal lines in the log, want 4", n)
	}
	if resp := f.gw.post(t, testPath, good, validBody); resp.StatusCode != http.StatusOK {
		t.Errorf("a valid request after the refusals got %d", resp.StatusCode)
	}
}

func abbreviate(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

// TestCaddyLogsHoldNoSecretAtDebug runs the documented log filters at Debug
// through a real Caddy in front of an upstream that answers, cuts its answer
// short (reverse_proxy's Warn "aborting with incomplete response") and
// fails, with accepted and refused requests that carry a token, an API key
// and customer data, and searches every line Caddy wrote, in the default log
// and an access log. The same traffic without the filters must leak, or the
// search proves nothing.
func TestCaddyLogsHoldNoSecretAtDebug(t *testing.T) {
	t.Run("documented filters", func(t *testing.T) {
		logs, secrets := runLoggedTraffic(t, canaryLogDir, true)
		leaks, err := secrets.scan(logs.dir)
		must(t, err)
		for _, leak := range leaks {
			t.Error(leak)
		}
		for _, want := range []string{`"msg":"aborting with incomplete response"`, `"msg":"upstream roundtrip"`} {
			if !strings.Contains(logs.defaultLog(t), want) {
				t.Errorf("the default log lacks %s: the test did not reach that line", want)
			}
		}
		if n := strings.Count(logs.accessLog(t), `"msg":"handled request"`); n < 8 {
			t.Errorf("%d access log lines, want one per request", n)
		}
	})
	t.Run("control: without the filters the same traffic leaks", func(t *testing.T) {
		logs, secrets := runLoggedTraffic(t, unscannedLogDir(t), false)
		leaks, err := secrets.scan(logs.dir)
		must(t, err)
		for _, file := range []string{"default.log", "access.log"} {
			for _, kind := range []string{"a token:", "an API key:"} {
				if !slices.ContainsFunc(leaks, func(l string) bool { return strings.HasPrefix(l, file) && strings.Contains(l, kind) }) {
					t.Errorf("unfiltered, %s does not carry %s the search cannot see a leak", file, strings.TrimSuffix(kind, ":"))
				}
			}
		}
		for line := range strings.SplitSeq(logs.defaultLog(t), "\n") {
			if strings.Contains(line, `"msg":"aborting with incomplete response"`) && !strings.Contains(line, `"X-Api-Key":["`) {
				t.Errorf("unfiltered, reverse_proxy's Warn line lacks the request headers: %s", line)
			}
		}
	})
}

// loggedTraffic is where runLoggedTraffic's Caddy wrote its logs.
type loggedTraffic struct{ dir string }

func (l loggedTraffic) defaultLog(t *testing.T) string { return l.read(t, "default.log") }
func (l loggedTraffic) accessLog(t *testing.T) string  { return l.read(t, "access.log") }

func (l loggedTraffic) read(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(l.dir, name))
	must(t, err)
	return string(data)
}

// runLoggedTraffic starts a Caddy logging at Debug into a new folder under
// parent (its default log and a site access log, both through the
// documented filter when filtered, plain JSON otherwise), sends it the
// traffic, and returns the logs with the secrets the traffic carried.
func runLoggedTraffic(t *testing.T, parent string, filtered bool) (loggedTraffic, *secretCanary) {
	t.Helper()
	dir, err := os.MkdirTemp(parent, "privacy-")
	must(t, err)
	logs := loggedTraffic{dir: dir}
	const customHeader = "X-Checkout-Signature"
	format := "\t\tformat json"
	if filtered {
		format = documentedFilter("\t\t", "request>headers>"+customHeader+" delete")
	}
	k := newTestKey(t, "k384", "ES384")
	const apiKey = "ak_live_privacy_probe_7731"
	apiKeys := filepath.Join(t.TempDir(), "api-keys.json")
	must(t, os.WriteFile(apiKeys, []byte(fmt.Sprintf(`{%q:["k384"]}`, bodyHash(apiKey))), 0o600))
	up := newUpstream(t, misbehavingUpstream)
	keys := "\t\t\tjwks_file " + writeJWKS(t, k) + "\n\t\t\tapi_keys " + apiKeys
	port := freePort(t)
	loadCaddyfile(t, fmt.Sprintf(`{
	admin off
	persist_config off
	auto_https off
	log default {
		output file %[1]s/default.log
%[2]s
		level DEBUG
	}
}

http://:%[3]d {
	bind 127.0.0.1
	log {
		output file %[1]s/access.log
%[2]s
	}
%[4]s
%[5]s
}
`, dir, format, port,
		strings.Replace(gatewaySite(up.hostPort(), keys+"\n\t\t\tsignature_header "+customHeader), "handle {", "handle /custom/manage {", 1),
		gatewaySite(up.hostPort(), keys)))
	gw := &gateway{url: fmt.Sprintf("http://127.0.0.1:%d", port), addr: fmt.Sprintf("127.0.0.1:%d", port)}

	secrets := newSecretCanary()
	secrets.record("an API key", apiKey)
	secrets.recordBodyValues(validBody)
	sign := func(claims map[string]any) string {
		token := k.sign(t, claims, false)
		secrets.recordToken(token)
		return token
	}
	expired := validClaims(validBody)
	expired["iat"], expired["exp"] = expired["iat"].(int64)-900, expired["iat"].(int64)-600
	customClaims := validClaims(validBody)
	customClaims["path"] = "/custom/manage"
	otherBody := strings.Replace(validBody, "Quintessa", "Quintessb", 1)
	requests := []struct {
		name, path, header, token, body, mode string
		wantStatus                            int
	}{
		{"accepted, upstream answers", testPath, "Api-Signature", sign(validClaims(validBody)), validBody, "", http.StatusOK},
		{"accepted, upstream cuts its answer", testPath, "Api-Signature", sign(validClaims(validBody)), validBody, "cut", http.StatusOK},
		{"accepted, upstream fails", testPath, "Api-Signature", sign(validClaims(validBody)), validBody, "error", http.StatusInternalServerError},
		{"refused: expired", testPath, "Api-Signature", sign(expired), validBody, "", http.StatusUnauthorized},
		{"refused: body not signed", testPath, "Api-Signature", sign(validClaims(validBody)), otherBody, "", http.StatusUnauthorized},
		{"custom header, accepted, upstream cuts its answer", "/custom/manage", customHeader, sign(customClaims), validBody, "cut", http.StatusOK},
		{"custom header, refused: wrong path", "/custom/manage", customHeader, sign(validClaims(validBody)), validBody, "", http.StatusUnauthorized},
	}
	for _, r := range requests {
		resp := gw.post(t, r.path, "", r.body, r.header, r.token, "X-Api-Key", apiKey, "X-Upstream-Mode", r.mode)
		_, _ = io.Copy(io.Discard, resp.Body) // a cut answer ends in an error here
		resp.Body.Close()
		if resp.StatusCode != r.wantStatus {
			t.Errorf("%s: got %d, want %d", r.name, resp.StatusCode, r.wantStatus)
		}
	}
	// Lowercase names, as HTTP/2 and HTTP/3 clients send them: Caddy logs
	// them canonical, where the filter finds them.
	token := sign(validClaims(validBody))
	resp := gw.rawRequest(t, fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\napi-signature: %s\r\nx-api-key: %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nConnection: close\r\n\r\n%s", testPath, token, apiKey, len(validBody), validBody))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("raw lowercase request: got %d", resp.StatusCode)
	}
	return logs, secrets
}

// misbehavingUpstream answers as its request's X-Upstream-Mode says: "cut"
// promises more than it sends and closes the connection, "error" fails in
// plain text, anything else answers normally.
func misbehavingUpstream(w http.ResponseWriter, r *http.Request) {
	switch r.Header.Get("X-Upstream-Mode") {
	case "cut":
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"HostedURL\":")
	case "error":
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "internal server error")
	default:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"HostedURL":"https://checkout.test/manage/1"}`)
	}
}

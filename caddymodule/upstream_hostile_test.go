package caddymodule

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
)

// rawUpstream answers every request with exact bytes, for answers that
// httptest cannot produce: 1xx, 101, bodies shorter than their length. With
// linger it then keeps reading the connection, so a test can see whether
// anything reached it past its answer; otherwise it closes at once.
type rawUpstream struct {
	addr   string
	mu     sync.Mutex
	after  bytes.Buffer // what arrived after an answer
	closed int          // connections finished
}

func newRawUpstream(t *testing.T, answer string, linger bool) *rawUpstream {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	u := &rawUpstream{addr: l.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				u.serve(conn, answer, linger)
			}()
		}
	}()
	return u
}

func (u *rawUpstream) serve(conn net.Conn, answer string, linger bool) {
	defer func() {
		conn.Close()
		u.mu.Lock()
		u.closed++
		u.mu.Unlock()
	}()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, req.Body)
	if _, err := io.WriteString(conn, answer); err != nil || !linger {
		return
	}
	rest, _ := io.ReadAll(br)
	u.mu.Lock()
	u.after.Write(rest)
	u.mu.Unlock()
}

func (u *rawUpstream) finished() (int, string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.closed, u.after.String()
}

// signedRaw is a signed POST of validBody as raw HTTP/1.1, with extra
// header lines.
func signedRaw(t *testing.T, k *testKey, headerLines ...string) string {
	t.Helper()
	var extra strings.Builder
	for _, line := range headerLines {
		extra.WriteString(line + "\r\n")
	}
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: checkout.test\r\nContent-Type: application/json\r\nApi-Signature: %s\r\nContent-Length: %d\r\n%s\r\n%s",
		testPath, k.sign(t, validClaims(validBody), false), len(validBody), extra.String(), validBody)
}

// gatewayLines are the log lines the gateway itself wrote.
func gatewayLines(t *testing.T, g *gateway) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for line := range strings.Lines(g.logs(t)) {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil && entry["logger"] == "http.handlers.checkout_gateway" && entry["msg"] != "signing keys loaded" {
			lines = append(lines, entry)
		}
	}
	return lines
}

// lineFor is the gateway's log line for an envelope's Instance.
func lineFor(t *testing.T, g *gateway, instance string) map[string]any {
	t.Helper()
	for _, line := range gatewayLines(t, g) {
		if line["instance"] == instance {
			return line
		}
	}
	t.Fatalf("no gateway log line for instance %s:\n%s", instance, g.logs(t))
	return nil
}

// TestUpstreamInformationalAnswersNotRelayed checks that a 1xx from the
// upstream, with whatever headers it carries, never reaches the client.
func TestUpstreamInformationalAnswersNotRelayed(t *testing.T) {
	const final = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\nConnection: close\r\n\r\n{\"HostedURL\":\"x\"}"
	for _, tc := range []struct{ name, informational string }{
		{"103 Early Hints with Set-Cookie", "HTTP/1.1 103 Early Hints\r\nSet-Cookie: session=upstream-chosen; Path=/\r\nLink: </evil.js>; rel=preload\r\n\r\n"},
		{"102 Processing", "HTTP/1.1 102 Processing\r\nX-Upstream-Internal: build-1234\r\n\r\n"},
		{"100 Continue unasked", "HTTP/1.1 100 Continue\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newRawUpstream(t, tc.informational+final, false)
			k := newTestKey(t, "k384", "ES384")
			gw := startCaddy(t, gatewaySite(up.addr, "\t\t\tjwks_file "+writeJWKS(t, k)))
			var got []int
			trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
				got = append(got, code)
				return nil
			}}
			req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodPost, gw.url+testPath, strings.NewReader(validBody))
			must(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Api-Signature", k.sign(t, validClaims(validBody), false))
			resp := do(t, req)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			must(t, err)
			if len(got) > 0 || resp.StatusCode != http.StatusOK || string(body) != `{"HostedURL":"x"}` {
				t.Fatalf("the client saw 1xx %v, then %d %s", got, resp.StatusCode, body)
			}
			if resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("Link") != "" || resp.Header.Get("X-Upstream-Internal") != "" {
				t.Errorf("a 1xx's headers reached the client: %v", resp.Header)
			}
		})
	}
}

// TestUpstreamProtocolSwitchNotSpliced checks that an upstream answering
// 101 gets no connection to the client: the client gets an envelope,
// nothing the upstream sent after the 101, and nothing it sends afterwards
// reaches the upstream.
func TestUpstreamProtocolSwitchNotSpliced(t *testing.T) {
	const afterSwitch = "SPLICED-FROM-UPSTREAM"
	for _, tc := range []struct {
		name, answer string
		request      []string // extra request header lines
	}{
		{"101 websocket to a plain POST", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" + afterSwitch, nil},
		{"101 without Upgrade to a plain POST", "HTTP/1.1 101 Switching Protocols\r\n\r\n" + afterSwitch, nil},
		{"101 to a POST asking for websocket", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" + afterSwitch,
			[]string{"Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newRawUpstream(t, tc.answer, true)
			k := newTestKey(t, "k384", "ES384")
			gw := startCaddy(t, gatewaySite(up.addr, "\t\t\tjwks_file "+writeJWKS(t, k)))
			conn, err := net.DialTimeout("tcp", gw.addr, 5*time.Second)
			must(t, err)
			defer conn.Close()
			must(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
			_, err = io.WriteString(conn, signedRaw(t, k, tc.request...))
			must(t, err)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			must(t, err)
			if resp.StatusCode == http.StatusSwitchingProtocols {
				t.Fatal("the 101 reached the client")
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			if bytes.Contains(body, []byte(afterSwitch)) {
				t.Fatalf("bytes the upstream sent after its 101 reached the client: %s", body)
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
			env := decodedEnvelope(t, resp)
			if tc.request != nil && resp.StatusCode == http.StatusBadRequest && env.Type == envelope.TypeInvalidMessage {
				// Refused on the request side before the upstream was asked.
			} else {
				if resp.StatusCode != http.StatusBadGateway || env.Type != envelope.TypeUnexpected {
					t.Fatalf("got %d %s, want 502 %s", resp.StatusCode, env.Type, envelope.TypeUnexpected)
				}
				line := lineFor(t, gw, env.Instance)
				if line["reason"] != string(envelope.ReasonUpstreamError) || line["upstream_fault"] != faultProtocolSwitch || line["upstream_status"] != float64(101) {
					t.Errorf("log line %v", line)
				}
				if resp.Header.Get("Upgrade") != "" || resp.Header.Get("Sec-Websocket-Accept") != "" {
					t.Errorf("the 101's headers reached the client: %v", resp.Header)
				}
			}
			_, _ = io.WriteString(conn, "UNCHECKED-BYTES-FOR-THE-UPSTREAM")
			conn.Close()
			var after string
			eventually(t, 8*time.Second, "the upstream connection ends", func() bool {
				var closed int
				closed, after = up.finished()
				return closed > 0 || tc.request != nil && resp.StatusCode == http.StatusBadRequest
			})
			if strings.Contains(after, "UNCHECKED") {
				t.Fatalf("bytes sent after the answer reached the upstream: %q", after)
			}
		})
	}
}

// TestUpstreamErrorLoggedWithoutItsText checks that an upstream error that
// echoes the request is logged by status, media type, length and digest,
// and that none of the customer data it echoed is in any log line.
func TestUpstreamErrorLoggedWithoutItsText(t *testing.T) {
	var echoed []byte
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		// The media type's parameter must not reach the gateway's line; Caddy's
		// own Debug line records upstream response headers as they are.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8; name=ParamFromUpstream")
		w.WriteHeader(http.StatusInternalServerError)
		echoed = []byte("could not create session for request: " + validBody)
		_, _ = w.Write(echoed)
	})
	k := newTestKey(t, "k384", "ES384")
	gw := startCaddy(t, gatewaySite(up.hostPort(), "\t\t\tjwks_file "+writeJWKS(t, k)))
	resp := gw.post(t, testPath, k.sign(t, validClaims(validBody), false), validBody)
	env := decodedEnvelope(t, resp)
	if resp.StatusCode != http.StatusInternalServerError || env.Type != envelope.TypeUnexpected {
		t.Fatalf("got %d %s", resp.StatusCode, env.Type)
	}
	logs := gw.logs(t)
	for _, value := range []string{"cust-4471-zebra", "Quintessa", "Marchbanks", "PZ9918273", "Evergreen", "1987-06-30", "could not create"} {
		if strings.Contains(logs, value) {
			t.Errorf("the log holds %q from the upstream's echo", value)
		}
	}
	sum := sha256.Sum256(echoed)
	line := lineFor(t, gw, env.Instance)
	if strings.Contains(fmt.Sprint(line), "ParamFromUpstream") {
		t.Errorf("the gateway's line holds the upstream's media type parameter: %v", line)
	}
	for field, want := range map[string]any{
		"reason":                string(envelope.ReasonUpstreamError),
		"upstream_fault":        faultNotAnEnvelope,
		"upstream_status":       float64(500),
		"upstream_content_type": "text/plain",
		"upstream_length":       float64(len(echoed)),
		"upstream_sha256":       hex.EncodeToString(sum[:])[:loggedDigestHexLen],
	} {
		if line[field] != want {
			t.Errorf("%s = %v, want %v", field, line[field], want)
		}
	}
	if _, ok := line["upstream_text"]; ok {
		t.Error("the line still has upstream_text")
	}
}

// TestUpstreamEnvelopePassThroughIsExact checks end to end that only an
// exact envelope passes through, and every near miss is replaced.
func TestUpstreamEnvelopePassThroughIsExact(t *testing.T) {
	answers := map[string]struct{ contentType, body string }{
		"/exact":       {"application/json; charset=utf-8", `{"Type":"InvalidMessage","Instance":"upstream-7f3a","Action":"CreateManagedSession","Detail":"CustomerID unknown"}`},
		"/no-instance": {"application/json", `{"Type":"InvalidMessage","Action":"CreateManagedSession","Detail":"CustomerID unknown"}`},
		"/loose":       {"application/json", `{"type":"InvalidMessage","instance":"u","debug":` + validBody + `}`},
		"/extra":       {"application/json", `{"Type":"InvalidMessage","Instance":"u","Action":"a","Detail":"d","debug":` + validBody + `}`},
		"/html":        {"text/html", `{"Type":"InvalidMessage","Instance":"upstream-7f3a","Action":"CreateManagedSession","Detail":"CustomerID unknown"}`},
		"/duplicate":   {"application/json", `{"Type":"InvalidMessage","Type":"Forbidden","Instance":"u","Action":"a","Detail":"d"}`},
	}
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		answer := answers[r.URL.Path]
		w.Header().Set("Content-Type", answer.contentType)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, answer.body)
	})
	k := newTestKey(t, "k384", "ES384")
	gw := startCaddy(t, gatewaySite(up.hostPort(), "\t\t\tjwks_file "+writeJWKS(t, k)))
	post := func(t *testing.T, path string) (*http.Response, []byte) {
		claims := validClaims(validBody)
		claims["path"] = path
		resp := gw.post(t, path, k.sign(t, claims, false), validBody)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		must(t, err)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, body
	}

	t.Run("an exact envelope passes through unchanged", func(t *testing.T) {
		resp, body := post(t, "/exact")
		if resp.StatusCode != http.StatusBadRequest || string(body) != answers["/exact"].body {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	})
	for _, path := range []string{"/no-instance", "/loose", "/extra", "/html", "/duplicate"} {
		t.Run("replaced "+path, func(t *testing.T) {
			resp, body := post(t, path)
			if bytes.Contains(body, []byte("cust-4471-zebra")) || bytes.Contains(body, []byte("upstream-7f3a")) {
				t.Fatalf("the upstream's body reached the client: %s", body)
			}
			env := decodedEnvelope(t, resp)
			if resp.StatusCode != http.StatusBadRequest || env.Type != envelope.TypeInvalidMessage || !strings.Contains(env.Detail, "answered 400") {
				t.Fatalf("got %d %+v", resp.StatusCode, env)
			}
			if line := lineFor(t, gw, env.Instance); line["upstream_fault"] != faultNotAnEnvelope {
				t.Errorf("log line %v", line)
			}
		})
	}
}

// TestUpstreamAnswerCutShort checks both kinds of cut: an error answer cut
// while held becomes a 502 envelope and a log line; a success cut after it
// started streaming aborts the client connection, with one log line.
func TestUpstreamAnswerCutShort(t *testing.T) {
	k := newTestKey(t, "k384", "ES384")
	for _, status := range []int{http.StatusInternalServerError, http.StatusConflict} {
		t.Run(fmt.Sprintf("held %d cut mid-body", status), func(t *testing.T) {
			up := newRawUpstream(t, fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\nX-Upstream-Internal: build-1234\r\n\r\nfailed for Quintessa Marchbanks", status, http.StatusText(status)), false)
			gw := startCaddy(t, gatewaySite(up.addr, "\t\t\tjwks_file "+writeJWKS(t, k)))
			req, err := http.NewRequest(http.MethodPost, gw.url+testPath, strings.NewReader(validBody))
			must(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Api-Signature", k.sign(t, validClaims(validBody), false))
			resp, err := testClient.Do(req)
			if err != nil {
				t.Fatalf("the client got no answer: %v", err)
			}
			env := decodedEnvelope(t, resp)
			if resp.StatusCode != http.StatusBadGateway || env.Type != envelope.TypeUnexpected || resp.Header.Get("X-Upstream-Internal") != "" {
				t.Fatalf("got %d %s %v", resp.StatusCode, env.Type, resp.Header)
			}
			line := lineFor(t, gw, env.Instance)
			if line["reason"] != string(envelope.ReasonUpstreamError) || line["upstream_fault"] != faultCutShort || line["upstream_status"] != float64(status) || line["upstream_length"] != float64(len("failed for Quintessa Marchbanks")) {
				t.Errorf("log line %v", line)
			}
			if strings.Contains(gw.logs(t), "Quintessa") {
				t.Error("the log holds the cut answer's text")
			}
		})
	}
	t.Run("2xx cut mid-body after streaming started", func(t *testing.T) {
		up := newRawUpstream(t, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"HostedURL\":\"https://checkout.test/", false)
		gw := startCaddy(t, gatewaySite(up.addr, "\t\t\tjwks_file "+writeJWKS(t, k)))
		resp := gw.post(t, testPath, k.sign(t, validClaims(validBody), false), validBody)
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("got %d", resp.StatusCode)
		}
		if _, err := io.ReadAll(resp.Body); err == nil {
			t.Fatal("the client read a complete answer from an upstream that failed half-way")
		}
		eventually(t, 5*time.Second, "the cut is logged", func() bool { return len(gatewayLines(t, gw)) > 0 })
		lines := gatewayLines(t, gw)
		if len(lines) != 1 || !strings.Contains(fmt.Sprint(lines[0]["msg"]), "cut short") || lines[0]["instance"] == "" {
			t.Errorf("gateway log lines %v", lines)
		}
	})
}

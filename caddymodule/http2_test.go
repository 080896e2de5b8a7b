package caddymodule

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
)

// TestHTTP2 runs the gateway over cleartext HTTP/2, where the request
// target and read deadlines reach the handler by other paths than HTTP/1.
func TestHTTP2(t *testing.T) {
	k := newTestKey(t, "k384", "ES384")
	up := newUpstream(t, nil)
	gw := startCaddyWith(t, "admin off\n\tservers {\n\t\tprotocols h1 h2c\n\t}", gatewaySite(up.hostPort(), "\t\t\tjwks_file "+writeJWKS(t, k)+"\n\t\t\tbody_read_timeout 1s"))
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: &protocols}}
	defer client.CloseIdleConnections()
	send := func(path string, body io.Reader, token string) *http.Response {
		req, err := http.NewRequest(http.MethodPost, gw.url+path, body)
		must(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Api-Signature", token)
		resp, err := client.Do(req)
		must(t, err)
		if resp.ProtoMajor != 2 {
			t.Fatalf("answered over %s", resp.Proto)
		}
		return resp
	}
	good := k.sign(t, validClaims(validBody), false)

	t.Run("accepted", func(t *testing.T) {
		if got := statusOf(t, send(testPath, strings.NewReader(validBody), good)); got != http.StatusOK {
			t.Fatalf("got %d", got)
		}
		if got := up.received(); len(got) != 1 || string(got[0].body) != validBody {
			t.Fatal("not forwarded byte for byte")
		}
	})
	t.Run("path bound as sent", func(t *testing.T) {
		resp := send("/v1"+testPath, strings.NewReader(validBody), good)
		if env := decodedEnvelope(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(env.Detail, "path claim") {
			t.Fatalf("got %d %q", resp.StatusCode, env.Detail)
		}
	})
	t.Run("body not complete in time", func(t *testing.T) {
		slow, feed := io.Pipe()
		defer feed.Close()
		go func() { _, _ = feed.Write([]byte(validBody[:20])) }()
		resp := send(testPath, slow, good)
		if env := decodedEnvelope(t, resp); resp.StatusCode != http.StatusRequestTimeout || env.Type != envelope.TypeInvalidMessage {
			t.Fatalf("got %d %s", resp.StatusCode, env.Type)
		}
	})
}

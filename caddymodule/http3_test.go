package caddymodule

import (
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/quic-go/quic-go/http3"
)

// TestHTTP3EarlyData sends signed POSTs over HTTP/3 to an HTTPS site, where
// Caddy accepts 0-RTT by default: one after a full handshake is forwarded,
// one sent as early data on a resumed connection is answered 425 and never
// reaches the upstream, which would have seen it with Early-Data: 1.
func TestHTTP3EarlyData(t *testing.T) {
	k := newTestKey(t, "k384", "ES384")
	up := newUpstream(t, nil)
	gw, roots := startCaddyTLS(t, gatewaySite(up.hostPort(), "\t\t\tjwks_file "+writeJWKS(t, k)+"\n\t\t\tbody_read_timeout 1s"))
	tlsConf := h3TLSConfig(roots)

	t.Run("after the handshake", func(t *testing.T) {
		tr := &http3.Transport{TLSClientConfig: tlsConf}
		defer tr.Close()
		client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		req, err := http.NewRequest(http.MethodPost, gw.url+testPath, strings.NewReader(validBody))
		must(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Api-Signature", k.sign(t, validClaims(validBody), false))
		resp, err := client.Do(req)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 3 {
			t.Fatalf("got %d over %s", resp.StatusCode, resp.Proto)
		}
		if got := up.received(); len(got) != 1 || string(got[0].body) != validBody {
			t.Fatal("not forwarded byte for byte")
		}
	})
	t.Run("as early data", func(t *testing.T) {
		up.reset()
		// The first connection's handshake leaves a session ticket that
		// lets the second one send its request before its handshake ends.
		primer := dialH3(t, gw.addr, tlsConf, false)
		_ = h3Exchange(t, primer, h3Message{fields: h3Post(gw.addr, "", 2), body: []byte("{}")})
		must(t, primer.CloseWithError(0, ""))
		up.reset()

		msg := h3Message{fields: h3Post(gw.addr, k.sign(t, validClaims(validBody), false), len(validBody)), body: []byte(validBody)}
		conn := dialH3(t, delayedRelay(t, gw.addr, 300*time.Millisecond), tlsConf, true)
		resp := h3Exchange(t, conn, msg)
		if !conn.ConnectionState().Used0RTT {
			t.Fatal("the connection did not use 0-RTT; the test proves nothing")
		}
		if resp == nil {
			t.Fatal("no answer")
		}
		env := decodedEnvelope(t, resp)
		if resp.StatusCode != http.StatusTooEarly || env.Type != envelope.TypeInvalidMessage || !strings.Contains(env.Detail, "early data") {
			t.Fatalf("got %d %s %q", resp.StatusCode, env.Type, env.Detail)
		}
		if got := up.received(); len(got) != 0 {
			t.Fatalf("upstream saw %d requests", len(got))
		}
	})
}

// delayedRelay forwards UDP datagrams between one client and target and
// holds back those from target by delay, as a slow path would: the client's
// handshake cannot complete sooner, so what it writes first goes out as
// 0-RTT however slowly the test runs.
func delayedRelay(t *testing.T, target string, delay time.Duration) string {
	t.Helper()
	front, err := net.ListenPacket("udp", "127.0.0.1:0")
	must(t, err)
	back, err := net.Dial("udp", target)
	must(t, err)
	t.Cleanup(func() { front.Close(); back.Close() })
	var client atomic.Pointer[net.Addr]
	go func() {
		buf := make([]byte, 65536)
		for {
			n, addr, err := front.ReadFrom(buf)
			if err != nil {
				return
			}
			client.Store(&addr)
			_, _ = back.Write(buf[:n])
		}
	}()
	go func() {
		buf := make([]byte, 65536)
		for {
			n, err := back.Read(buf)
			if err != nil {
				return
			}
			packet := append([]byte(nil), buf[:n]...)
			time.AfterFunc(delay, func() { _, _ = front.WriteTo(packet, *client.Load()) })
		}
	}()
	return front.LocalAddr().String()
}

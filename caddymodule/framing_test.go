package caddymodule

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// framedRequest is a signed POST described below any client library, so
// that its framing can be wrong: contentLength -1 sends none (a chunked body
// over HTTP/1.1), and trailer is sent after the body, declared only if
// extra has a trailer field.
type framedRequest struct {
	token         string
	extra         [][2]string // more header fields, lower case
	body          string
	contentLength int
	trailer       [][2]string
}

// framedSender sends a framedRequest over one protocol to the gateway at
// addr. A nil answer means the server reset the stream without one.
type framedSender func(t *testing.T, addr string, req framedRequest) *http.Response

// TestFraming sends the same framing tricks over HTTP/1.1, HTTP/2 and
// HTTP/3 to one HTTPS site: a request with trailers or a body that does not
// match its Content-Length is refused alike on each, and never forwarded.
func TestFraming(t *testing.T) {
	k := newTestKey(t, "k384", "ES384")
	var trailerSeen atomic.Bool
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		// Read after the whole body: undeclared trailers are known by now.
		if len(r.Trailer) > 0 || r.Header.Get("X-Late") != "" {
			trailerSeen.Store(true)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"HostedURL":"https://checkout.test/manage/1"}`)
	})
	gw, roots := startCaddyTLS(t, gatewaySite(up.hostPort(), "\t\t\tjwks_file "+writeJWKS(t, k)+"\n\t\t\tbody_read_timeout 2s"))
	senders := []struct {
		proto string
		send  framedSender
	}{
		{"HTTP/1.1", sendHTTP1(roots)},
		{"HTTP/2", sendHTTP2(roots)},
		{"HTTP/3", sendHTTP3(roots)},
	}
	signed := func(t *testing.T) framedRequest {
		return framedRequest{token: k.sign(t, validClaims(validBody), false), body: validBody, contentLength: len(validBody)}
	}
	refused := func(t *testing.T, resp *http.Response, status int, detail string) {
		t.Helper()
		if resp == nil {
			t.Fatal("no answer")
		}
		env := decodedEnvelope(t, resp)
		if resp.StatusCode != status || env.Type != envelope.TypeInvalidMessage || !strings.Contains(env.Detail, detail) {
			t.Fatalf("got %d %s %q, want %d %s %q", resp.StatusCode, env.Type, env.Detail, status, envelope.TypeInvalidMessage, detail)
		}
	}

	for _, s := range senders {
		t.Run(s.proto, func(t *testing.T) {
			t.Cleanup(up.reset)
			t.Run("well framed", func(t *testing.T) {
				up.reset()
				resp := s.send(t, gw.addr, signed(t))
				if resp == nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("got %v", resp)
				}
				if got := up.received(); len(got) != 1 || string(got[0].body) != validBody {
					t.Fatal("not forwarded byte for byte")
				}
			})
			t.Run("declared trailer", func(t *testing.T) {
				up.reset()
				req := signed(t)
				req.contentLength = -1
				req.extra = [][2]string{{"trailer", "x-late"}}
				req.trailer = [][2]string{{"x-late", "1"}}
				refused(t, s.send(t, gw.addr, req), http.StatusBadRequest, "trailers")
				if got := up.received(); len(got) != 0 {
					t.Fatalf("upstream saw %d requests", len(got))
				}
			})
			t.Run("undeclared trailer", func(t *testing.T) {
				// HTTP/2 drops undeclared trailers before any handler runs;
				// HTTP/1.1 and HTTP/3 store them in the server's own request,
				// not in the copy Caddy hands to handlers, so the gateway
				// never sees them and forwards only what was signed.
				up.reset()
				trailerSeen.Store(false)
				req := signed(t)
				req.contentLength = -1
				req.trailer = [][2]string{{"x-late", "1"}}
				resp := s.send(t, gw.addr, req)
				if resp == nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("got %v", resp)
				}
				if got := up.received(); len(got) != 1 || string(got[0].body) != validBody || trailerSeen.Load() {
					t.Fatalf("upstream saw %d requests, trailer %v", len(got), trailerSeen.Load())
				}
			})
			t.Run("body shorter than Content-Length", func(t *testing.T) {
				up.reset()
				req := signed(t)
				req.contentLength = len(validBody) + 50
				refused(t, s.send(t, gw.addr, req), http.StatusBadRequest, fmt.Sprintf("Content-Length declares %d", req.contentLength))
				if got := up.received(); len(got) != 0 {
					t.Fatalf("upstream saw %d requests", len(got))
				}
			})
			t.Run("body longer than Content-Length", func(t *testing.T) {
				// HTTP/2 and HTTP/3 reset the stream (RFC 9113 8.1.1, RFC 9114
				// 4.1.2); over HTTP/1.1 the declared bytes are the body and
				// the rest is not part of this request.
				up.reset()
				req := signed(t)
				req.contentLength = len(validBody) - 10
				if resp := s.send(t, gw.addr, req); resp != nil && resp.StatusCode < http.StatusBadRequest {
					t.Fatalf("got %d", resp.StatusCode)
				}
				if got := up.received(); len(got) != 0 {
					t.Fatalf("upstream saw %d requests", len(got))
				}
			})
		})
	}
}

// sendHTTP1 writes the request over TLS as raw HTTP/1.1 and then closes its
// side of the connection, so that a short body ends instead of waiting.
func sendHTTP1(roots *x509.CertPool) framedSender {
	return func(t *testing.T, addr string, req framedRequest) *http.Response {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}})
		must(t, err)
		defer conn.Close()
		must(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
		var b strings.Builder
		fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nApi-Signature: %s\r\nConnection: close\r\n", testPath, addr, req.token)
		for _, f := range req.extra {
			fmt.Fprintf(&b, "%s: %s\r\n", f[0], f[1])
		}
		if req.contentLength >= 0 {
			fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", req.contentLength, req.body)
		} else {
			fmt.Fprintf(&b, "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n", len(req.body), req.body)
			for _, f := range req.trailer {
				fmt.Fprintf(&b, "%s: %s\r\n", f[0], f[1])
			}
			b.WriteString("\r\n")
		}
		_, err = io.WriteString(conn, b.String())
		must(t, err)
		if req.contentLength > len(req.body) {
			// Go's server takes a half-closed HTTP/1.1 connection for a
			// client gone, so only a short body is ended this way.
			must(t, conn.CloseWrite())
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			return nil
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp
	}
}

// sendHTTP2 writes the request as HTTP/2 frames over TLS: HEADERS, one DATA
// frame and, with a trailer, a second HEADERS frame that ends the stream.
func sendHTTP2(roots *x509.CertPool) framedSender {
	return func(t *testing.T, addr string, req framedRequest) *http.Response {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, NextProtos: []string{"h2"}})
		must(t, err)
		defer conn.Close()
		must(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
		_, err = io.WriteString(conn, http2.ClientPreface)
		must(t, err)
		fr := http2.NewFramer(conn, conn)
		fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		must(t, fr.WriteSettings())
		fields := h3Post(addr, req.token, req.contentLength)
		if req.contentLength < 0 {
			fields = fields[:len(fields)-1]
		}
		must(t, fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hpackBlock(append(fields, req.extra...)), EndHeaders: true}))
		must(t, fr.WriteData(1, req.trailer == nil, []byte(req.body)))
		if req.trailer != nil {
			must(t, fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hpackBlock(req.trailer), EndHeaders: true, EndStream: true}))
		}

		resp := &http.Response{Header: http.Header{}, Proto: "HTTP/2.0", ProtoMajor: 2}
		var body bytes.Buffer
		for {
			frame, err := fr.ReadFrame()
			if err != nil {
				return nil
			}
			ended := false
			switch f := frame.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					must(t, fr.WriteSettingsAck())
				}
			case *http2.MetaHeadersFrame:
				for _, hf := range f.RegularFields() {
					resp.Header.Add(hf.Name, hf.Value)
				}
				if resp.StatusCode == 0 {
					resp.StatusCode, _ = strconv.Atoi(f.PseudoValue("status"))
				}
				ended = f.StreamEnded()
			case *http2.DataFrame:
				body.Write(f.Data())
				ended = f.StreamEnded()
			case *http2.RSTStreamFrame, *http2.GoAwayFrame:
				return nil
			}
			if ended {
				resp.Body = io.NopCloser(&body)
				return resp
			}
		}
	}
}

func hpackBlock(fields [][2]string) []byte {
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range fields {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return block.Bytes()
}

// sendHTTP3 writes the request as HTTP/3 frames on a new QUIC connection.
func sendHTTP3(roots *x509.CertPool) framedSender {
	return func(t *testing.T, addr string, req framedRequest) *http.Response {
		t.Helper()
		conn := dialH3(t, addr, h3TLSConfig(roots), false)
		fields := h3Post(addr, req.token, req.contentLength)
		if req.contentLength < 0 {
			fields = fields[:len(fields)-1]
		}
		return h3Exchange(t, conn, h3Message{fields: append(fields, req.extra...), body: []byte(req.body), trailer: req.trailer})
	}
}

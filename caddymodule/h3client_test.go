package caddymodule

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/quic-go/qpack"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/quicvarint"
)

// startCaddyTLS is startCaddy for an HTTPS site, which Caddy serves over
// HTTP/1.1, HTTP/2 and HTTP/3 (with 0-RTT, its default). The certificate is
// made for 127.0.0.1 and trusted by roots only.
func startCaddyTLS(t *testing.T, siteBody string) (gw *gateway, roots *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	certPath, keyPath, roots := writeLoopbackCert(t, dir)
	port := freePort(t)
	logPath := filepath.Join(dir, "caddy.log")
	caddyfile := fmt.Sprintf(`{
	admin off
	persist_config off
	auto_https off
	storage file_system %s
	log {
		output file %s
		format json
		level INFO
	}
}

https://:%d {
	bind 127.0.0.1
	tls %s %s
%s
}
`, filepath.Join(dir, "storage"), logPath, port, certPath, keyPath, siteBody)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting Caddyfile: %v\n%s", err, caddyfile)
	}
	loadConfig(t, cfg)
	t.Cleanup(func() { _ = caddy.Stop() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return &gateway{url: "https://" + addr, addr: addr, port: port, logPath: logPath}, roots
}

// writeLoopbackCert writes a self-signed certificate for 127.0.0.1 and its
// key as PEM files, and returns a pool that trusts it.
func writeLoopbackCert(t *testing.T, dir string) (certPath, keyPath string, roots *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &priv.PublicKey, priv)
	must(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	must(t, err)
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	must(t, os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	must(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certPath, keyPath, roots
}

// h3TLSConfig is a client TLS config for HTTP/3 to the loopback gateway,
// with a session cache so that a second connection can resume and send
// early data.
func h3TLSConfig(roots *x509.CertPool) *tls.Config {
	return &tls.Config{
		RootCAs:            roots,
		ServerName:         "127.0.0.1",
		NextProtos:         []string{http3.NextProtoH3},
		ClientSessionCache: tls.NewLRUClientSessionCache(4),
	}
}

// dialH3 opens a QUIC connection (early, if asked, so that what is written
// before the handshake completes goes out as 0-RTT) and starts HTTP/3 on
// it: the control stream with the client's SETTINGS.
func dialH3(t *testing.T, addr string, tlsConf *tls.Config, early bool) *quic.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dial := quic.DialAddr
	if early {
		dial = quic.DialAddrEarly
	}
	conn, err := dial(ctx, addr, tlsConf, &quic.Config{})
	must(t, err)
	t.Cleanup(func() { _ = conn.CloseWithError(0, "") })
	(&http3.Transport{}).NewClientConn(conn)
	return conn
}

// h3Message is a request as HTTP/3 frames: a HEADERS frame, one DATA frame
// and, if trailer is set, a second HEADERS frame, then the end of the stream.
// Nothing is checked or added: the fields are sent as given.
type h3Message struct {
	fields  [][2]string
	body    []byte
	trailer [][2]string
}

// h3Post is the usual signed POST as HTTP/3 fields, with Content-Length.
func h3Post(authority, token string, contentLength int) [][2]string {
	return [][2]string{
		{":method", http.MethodPost}, {":scheme", "https"}, {":authority", authority}, {":path", testPath},
		{"content-type", "application/json"}, {"api-signature", token}, {"content-length", strconv.Itoa(contentLength)},
	}
}

// h3Exchange writes msg on a new request stream at once and reads the
// answer, frame by frame. A stream the server reset gives a nil response.
func h3Exchange(t *testing.T, conn *quic.Conn, msg h3Message) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	str, err := conn.OpenStreamSync(ctx)
	must(t, err)
	must(t, str.SetDeadline(time.Now().Add(5*time.Second)))
	wire := appendH3Headers(nil, msg.fields)
	wire = appendH3Frame(wire, 0x00, msg.body)
	if msg.trailer != nil {
		wire = appendH3Headers(wire, msg.trailer)
	}
	_, err = str.Write(wire)
	must(t, err)
	must(t, str.Close())

	resp := &http.Response{Header: http.Header{}, Proto: "HTTP/3.0", ProtoMajor: 3}
	var body bytes.Buffer
	r := quicvarint.NewReader(str)
	for {
		typ, err := quicvarint.Read(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Logf("HTTP/3 stream ended with %v", err)
			return nil
		}
		length, err := quicvarint.Read(r)
		must(t, err)
		payload := make([]byte, length)
		_, err = io.ReadFull(r, payload)
		must(t, err)
		switch {
		case typ == 0x01 && resp.StatusCode == 0:
			decode := qpack.NewDecoder().Decode(payload)
			for {
				f, err := decode()
				if err == io.EOF {
					break
				}
				must(t, err)
				if f.Name == ":status" {
					resp.StatusCode, _ = strconv.Atoi(f.Value)
				} else {
					resp.Header.Add(f.Name, f.Value)
				}
			}
		case typ == 0x00:
			body.Write(payload)
		}
	}
	resp.Body = io.NopCloser(&body)
	return resp
}

func appendH3Headers(wire []byte, fields [][2]string) []byte {
	var block bytes.Buffer
	enc := qpack.NewEncoder(&block)
	for _, f := range fields {
		_ = enc.WriteField(qpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return appendH3Frame(wire, 0x01, block.Bytes())
}

func appendH3Frame(wire []byte, typ uint64, payload []byte) []byte {
	wire = quicvarint.Append(wire, typ)
	wire = quicvarint.Append(wire, uint64(len(payload)))
	return append(wire, payload...)
}

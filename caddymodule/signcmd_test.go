package caddymodule

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// writePrivateJWK writes k's private half as keygen would.
func writePrivateJWK(t *testing.T, k *testKey) string {
	t.Helper()
	priv, err := jwk.Import(k.priv)
	must(t, err)
	must(t, priv.Set(jwk.KeyIDKey, k.kid))
	path := filepath.Join(t.TempDir(), k.kid+".private.jwk.json")
	must(t, writeJSONFile(path, priv, 0o600))
	return path
}

// TestSignFollowsConfig: a token from `sign --config` passes a gateway
// with its own audience, header, lifetime and methods, where one signed
// with the provider's defaults is refused; and sign refuses up front what
// that gateway would refuse.
func TestSignFollowsConfig(t *testing.T) {
	s := startToolSite(t)
	dir := t.TempDir()
	privPath, es256Path, configPath := writePrivateJWK(t, s.k384), writePrivateJWK(t, s.k256), s.configPath
	bodyPath := filepath.Join(dir, "body.json")
	must(t, os.WriteFile(bodyPath, []byte(validBody), 0o600))

	cases := []struct {
		name    string
		opts    signOptions
		want    string // in the output, or in the error when wantErr
		wantErr bool
	}{
		{name: "provider defaults are refused", opts: signOptions{keyPath: privPath}, want: "401 Unauthorized"},
		{name: "with --config", opts: signOptions{keyPath: privPath, config: toolGatewayOptions{configPath: configPath}}, want: "200 OK"},
		{name: "--config with a key the config's algorithms refuse", opts: signOptions{keyPath: es256Path, config: toolGatewayOptions{configPath: configPath}}, wantErr: true, want: `alg "ES256" is not accepted; use one of [ES384]`},
		{name: "--config and a method it does not let through", opts: signOptions{keyPath: privPath, method: "PATCH", config: toolGatewayOptions{configPath: configPath}}, wantErr: true, want: "method PATCH is not allowed here; use POST, PUT"},
		{name: "--route naming no handler", opts: signOptions{keyPath: privPath, config: toolGatewayOptions{configPath: configPath, route: "Refund"}}, wantErr: true, want: `--route "Refund": no checkout_gateway handler in ` + configPath + ` has that action; its actions are: CreateManagedSession`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.target, o.bodyPath, o.send = s.gw.url+testPath, bodyPath, true
			o.method = cmpOrString(o.method, "POST")
			o.headers = []string{"X-Api-Key: ak_a_secret"}
			var out bytes.Buffer
			err := runSign(nil, &out, io.Discard, o, time.Now())
			checkSignOutcome(t, out.String(), err, tc.wantErr, tc.want)
		})
	}
}

// TestSignSendsToTLSInternal: `sign --send` reaches a `tls internal` site
// with --cacert, names the fix without it, and with --insecure says loudly
// that nothing is verified.
func TestSignSendsToTLSInternal(t *testing.T) {
	k := newTestKey(t, "k384", "ES384")
	up := newUpstream(t, nil)
	storage, port := t.TempDir(), freePort(t)
	loadCaddyfile(t, fmt.Sprintf(`{
	admin off
	persist_config off
	skip_install_trust
	storage file_system %s
	http_port %d
	auto_https disable_redirects
	log {
		output file %s
%s
		level DEBUG
	}
}

https://127.0.0.1:%d {
	bind 127.0.0.1
	tls internal
%s
}
`, storage, freePort(t), canaryLogPath(t), documentedFilter("\t\t"), port, gatewaySite(up.hostPort(), "\t\t\tjwks_file "+writeJWKS(t, k))))
	root := filepath.Join(storage, "pki", "authorities", "local", "root.crt")
	waitForCertificate(t, fmt.Sprintf("127.0.0.1:%d", port))
	bodyPath := filepath.Join(t.TempDir(), "body.json")
	must(t, os.WriteFile(bodyPath, []byte(validBody), 0o600))
	cases := []struct {
		name       string
		tls        tlsOptions
		want       string
		wantErr    bool
		wantStderr string
	}{
		{name: "--cacert", tls: tlsOptions{caCert: root}, want: "200 OK"},
		{name: "neither", wantErr: true, want: "--cacert <caddy data dir>/pki/authorities/local/root.crt"},
		{name: "--insecure", tls: tlsOptions{insecure: true}, want: "200 OK", wantStderr: "WARNING: --insecure"},
		{name: "a key given as --cacert", tls: tlsOptions{caCert: filepath.Join(storage, "pki", "authorities", "local", "root.key")}, wantErr: true, want: "no PEM certificate in the file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, stderr bytes.Buffer
			err := runSign(nil, &out, &stderr, signOptions{
				keyPath: writePrivateJWK(t, k), target: fmt.Sprintf("https://127.0.0.1:%d%s", port, testPath), method: "POST", bodyPath: bodyPath, send: true, tls: tc.tls,
			}, time.Now())
			checkSignOutcome(t, out.String(), err, tc.wantErr, tc.want)
			if !strings.Contains(stderr.String(), tc.wantStderr) || (tc.wantStderr == "" && stderr.Len() > 0) {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.wantStderr)
			}
		})
	}
}

// waitForCertificate polls until the site completes a TLS handshake: Caddy
// issues its internal certificate in the background after loading.
func waitForCertificate(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no certificate in time: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkSignOutcome checks what sign printed, or the error it failed with.
func checkSignOutcome(t *testing.T, printed string, err error, wantErr bool, want string) {
	t.Helper()
	got := printed
	if wantErr {
		if err == nil {
			t.Fatalf("sign succeeded: %s", printed)
		}
		got = err.Error()
	} else {
		must(t, err)
	}
	if !strings.Contains(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

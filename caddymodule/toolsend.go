package caddymodule

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/spf13/pflag"
)

// tlsOptions say how `sign --send` trusts an https server.
type tlsOptions struct {
	caCert   string
	insecure bool
}

func addTLSFlags(f *pflag.FlagSet, o *tlsOptions) {
	f.StringVar(&o.caCert, "cacert", "", "with --send: a PEM file of the CA to trust for https, e.g. the root of Caddy's `tls internal` CA")
	f.BoolVar(&o.insecure, "insecure", false, "with --send: INSECURE, do not verify the server's TLS certificate at all; for a throwaway test site only, prefer --cacert")
}

// client is the HTTP client --send uses: the system's roots, or those of
// --cacert, or, loudly, none.
func (o tlsOptions) client(stderr io.Writer) (*http.Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case o.insecure && o.caCert != "":
		return nil, errors.New("--insecure and --cacert: give one; --cacert keeps the certificate checked")
	case o.insecure:
		fmt.Fprintln(stderr, "WARNING: --insecure: the server's TLS certificate is not verified; anyone on the network path can read and change this request")
		cfg.InsecureSkipVerify = true
	case o.caCert != "":
		pem, err := os.ReadFile(o.caCert)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert %s: no PEM certificate in the file; give the CA's root certificate (root.crt), not a key", o.caCert)
		}
		cfg.RootCAs = pool
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = cfg
	return &http.Client{Timeout: 30 * time.Second, Transport: transport}, nil
}

// tlsHint says how to reach a site whose certificate is not trusted.
func tlsHint(err error) string {
	var unknown x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknown) || errors.As(err, &verify) {
		return "; for a `tls internal` site give its CA with --cacert <caddy data dir>/pki/authorities/local/root.crt"
	}
	return ""
}

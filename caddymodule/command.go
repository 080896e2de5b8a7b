package caddymodule

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/checkoutgw/checkoutgw/signedrequest"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "checkout",
		Short: "Tools for the checkout gateway: keygen, sign, explain",
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(keygenCommand(), signCommand(), explainCommand())
		},
	})
}

func keygenCommand() *cobra.Command {
	var alg, kid, out string
	var force bool
	cmd := &cobra.Command{
		Use:   "keygen [--alg ES384|ES256] [--kid ID] [--out DIR] [--force]",
		Short: "Make a request-signing key pair: a private JWK and a public JWK set",
		Long: `Writes <kid>.private.jwk.json (mode 0600: keep it secret, it signs your
requests) and <kid>.jwks.json (the public key set to give the gateway as
jwks_file, or to register with the provider).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			privPath, pubPath, err := generateKeyPair(alg, kid, out, force, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "private key: %s\npublic key set: %s\n", privPath, pubPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&alg, "alg", "ES384", "signature algorithm: ES384 or ES256")
	cmd.Flags().StringVar(&kid, "kid", "", "key id (default: a dated random id)")
	cmd.Flags().StringVar(&out, "out", ".", "directory to write the files to")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite existing files")
	return cmd
}

// generateKeyPair writes a new key pair and returns the two files' paths.
func generateKeyPair(algName, kid, dir string, force bool, now time.Time) (string, string, error) {
	curves := map[string]elliptic.Curve{"ES384": elliptic.P384(), "ES256": elliptic.P256()}
	curve, ok := curves[algName]
	if !ok {
		return "", "", fmt.Errorf("--alg %s: use ES384 or ES256", algName)
	}
	if kid == "" {
		suffix := make([]byte, 4)
		_, _ = rand.Read(suffix)
		kid = fmt.Sprintf("%s-%s-%s", strings.ToLower(algName), now.UTC().Format("20060102"), hex.EncodeToString(suffix))
	}
	if strings.ContainsAny(kid, `/\`) {
		return "", "", fmt.Errorf("--kid %q: a kid may not contain a path separator", kid)
	}
	privPath := filepath.Join(dir, kid+".private.jwk.json")
	pubPath := filepath.Join(dir, kid+".jwks.json")
	if !force {
		for _, p := range []string{privPath, pubPath} {
			if _, err := os.Stat(p); err == nil {
				return "", "", fmt.Errorf("%s exists; use --force to overwrite it", p)
			}
		}
	}
	raw, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generating key: %w", err)
	}
	priv, err := jwk.Import(raw)
	if err != nil {
		return "", "", fmt.Errorf("encoding key: %w", err)
	}
	alg, _ := jwa.LookupSignatureAlgorithm(algName)
	for name, value := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: alg, jwk.KeyUsageKey: "sig"} {
		if err := priv.Set(name, value); err != nil {
			return "", "", fmt.Errorf("setting %s: %w", name, err)
		}
	}
	pub, err := priv.PublicKey()
	if err != nil {
		return "", "", fmt.Errorf("deriving public key: %w", err)
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	if err := writeJSONFile(privPath, priv, 0o600); err != nil {
		return "", "", err
	}
	if err := writeJSONFile(pubPath, set, 0o644); err != nil {
		return "", "", err
	}
	return privPath, pubPath, nil
}

func writeJSONFile(path string, v any, mode os.FileMode) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	// Remove first so that --force also resets the mode of an old file.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), mode)
}

// signOptions are the sign command's flags.
type signOptions struct {
	keyPath, target, method, bodyPath string
	audience, signatureHeader         string
	headers                           []string
	send, explain                     bool
	tls                               tlsOptions
	config                            toolGatewayOptions
}

func signCommand() *cobra.Command {
	var o signOptions
	cmd := &cobra.Command{
		Use:   "sign --key FILE --url URL [--config FILE [--route ACTION]] [--method POST] [--body FILE|-] [--aud AUD] [--signature-header NAME] [--header K:V ...] [--send [--cacert FILE | --insecure]] [--explain]",
		Short: "Sign a request the way the provider specifies; print the token or send the request",
		Long: `Builds the Api-Signature token for one request: aud, iat, exp (5 minutes,
or less if the gateway allows less), method, the URL's path and query, and
the SHA-256 of the body's exact bytes. Prints the token, or with --send
sends the request and prints the answer.

With --config (the gateway's Caddyfile, or its JSON) the token follows that
gateway: its audience, its signature_header, its max_token_lifetime, and
the key's alg and the method must be ones it accepts. --aud and
--signature-header override the config. Without --config, the provider's
defaults apply (aud https://api.noah.com, header Api-Signature).

--send to an https site whose certificate is not publicly trusted (Caddy's
` + "`tls internal`" + `) needs --cacert with that CA's root, e.g.
<caddy data dir>/pki/authorities/local/root.crt.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSign(cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o, time.Now())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.keyPath, "key", "", "private JWK file, as keygen writes it (*.private.jwk.json) (required)")
	f.StringVar(&o.target, "url", "", "the full request URL, e.g. http://localhost:8080/checkout/manage (required)")
	f.StringVar(&o.method, "method", http.MethodPost, "HTTP method")
	f.StringVar(&o.bodyPath, "body", "", "file with the exact body bytes, or - for standard input")
	f.StringVar(&o.audience, "aud", "", "the token's aud (default: the config's audience, else https://api.noah.com)")
	f.StringVar(&o.signatureHeader, "signature-header", "", "the header --send puts the token in (default: the config's signature_header, else Api-Signature)")
	f.StringArrayVar(&o.headers, "header", nil, "extra header for --send, as Name:Value (repeatable), e.g. X-Api-Key:...")
	f.BoolVar(&o.send, "send", false, "send the request and print the status and body")
	f.BoolVar(&o.explain, "explain", false, "also explain the token against the request")
	addTLSFlags(f, &o.tls)
	addConfigFlags(f, &o.config)
	_ = cmd.MarkFlagRequired("key")
	_ = cmd.MarkFlagRequired("url")
	return cmd
}

// addConfigFlags adds the flags that point a tool at the gateway's config.
func addConfigFlags(f *pflag.FlagSet, o *toolGatewayOptions) {
	f.StringVar(&o.configPath, "config", "", "the gateway's config, a Caddyfile or JSON (*.json): take audience, algorithms, lifetime, clock skew, header, methods and keys from its checkout_gateway")
	f.StringVar(&o.route, "route", "", "with --config: the action of the checkout_gateway to follow, when the config has several")
}

func runSign(stdin io.Reader, stdout, stderr io.Writer, o signOptions, now time.Time) error {
	keyData, err := os.ReadFile(o.keyPath)
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	key, alg, err := signedrequest.LoadSigningKey(keyData)
	if err != nil {
		return fmt.Errorf("--key %s: %w", o.keyPath, err)
	}
	target, err := url.Parse(o.target)
	if err != nil || target.Scheme == "" || target.Host == "" {
		return fmt.Errorf("--url %q: give an absolute URL", o.target)
	}
	body, err := readBodyFlag(stdin, o.bodyPath)
	if err != nil {
		return err
	}
	g, err := toolGateway(o.config, toolLogger(stderr), func(g *Gateway) {
		g.Audience = cmp.Or(o.audience, g.Audience)
		g.SignatureHeader = cmp.Or(o.signatureHeader, g.SignatureHeader)
	})
	if err != nil {
		return err
	}
	g.policy.Now = func() time.Time { return now }
	req, err := newToolRequest(o.method, target, body, o.headers)
	if err != nil {
		return err
	}
	if rej := g.checkMethod(req); rej != nil && o.config.configPath != "" {
		return fmt.Errorf("--method: the gateway would refuse it: %s", rej.Detail)
	}
	claims, err := g.policy.RequestClaims(o.method, target, body)
	if err != nil {
		return err
	}
	tok, err := signedrequest.Sign(key, alg, claims)
	if err != nil {
		return err
	}
	if parsed, rej := signedrequest.Parse(tok); rej == nil && o.config.configPath != "" {
		if rej := g.policy.CheckAlgorithm(parsed); rej != nil {
			return fmt.Errorf("--key %s: the gateway would refuse its tokens: %s", o.keyPath, rej.Detail)
		}
	}
	if o.explain {
		writeFindings(stdout, g.policy.Explain(context.Background(), tok, signedrequest.Request{Method: o.method, Target: target, Body: body}, nil))
	}
	if !o.send {
		fmt.Fprintln(stdout, tok)
		return nil
	}
	req.Header.Set(g.SignatureHeader, tok)
	client, err := o.tls.client(stderr)
	if err != nil {
		return err
	}
	return sendSigned(stdout, client, req)
}

func readBodyFlag(stdin io.Reader, path string) ([]byte, error) {
	switch path {
	case "":
		return []byte{}, nil
	case "-":
		return io.ReadAll(stdin)
	}
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--body: %w", err)
	}
	return body, nil
}

// newToolRequest is the request a tool signs, sends or explains, with
// Content-Type set for a body as a client would, and the --header flags.
func newToolRequest(method string, target *url.URL, body []byte, headers []string) (*http.Request, error) {
	req, err := http.NewRequest(method, target.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return nil, fmt.Errorf("--header %q: write it as Name:Value", h)
		}
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return req, nil
}

func sendSigned(stdout io.Writer, client *http.Client, req *http.Request) error {
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("sending: %w%s", err, tlsHint(err))
	}
	defer resp.Body.Close()
	fmt.Fprintln(stdout, resp.Status)
	_, err = io.Copy(stdout, io.LimitReader(resp.Body, 1<<20))
	fmt.Fprintln(stdout)
	return err
}

// toolLogger reports, on the tools' standard error, why a key was left out
// of a set or a fetch failed; the Info lines of a running gateway would
// only be noise here.
func toolLogger(stderr io.Writer) *zap.Logger {
	enc := zap.NewDevelopmentEncoderConfig()
	enc.TimeKey = ""
	return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(stderr), zap.WarnLevel))
}

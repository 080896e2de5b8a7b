package caddymodule

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
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
	headers                           []string
	send, explain                     bool
}

func signCommand() *cobra.Command {
	var o signOptions
	cmd := &cobra.Command{
		Use:   "sign --key FILE --url URL [--method POST] [--body FILE|-] [--header K:V ...] [--send] [--explain]",
		Short: "Sign a request the way the provider specifies; print the token or send the request",
		Long: `Builds the Api-Signature token for one request: aud, iat, exp (5 minutes),
method, the URL's path and query, and the SHA-256 of the body's exact bytes.
Prints the token, or with --send sends the request and prints the answer.
Works against the provider itself as well as this gateway.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSign(cmd.InOrStdin(), cmd.OutOrStdout(), o, time.Now())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.keyPath, "key", "", "private JWK file (required)")
	f.StringVar(&o.target, "url", "", "the full request URL, e.g. http://localhost:8080/checkout/manage (required)")
	f.StringVar(&o.method, "method", http.MethodPost, "HTTP method")
	f.StringVar(&o.bodyPath, "body", "", "file with the exact body bytes, or - for standard input")
	f.StringArrayVar(&o.headers, "header", nil, "extra header for --send, as Name:Value (repeatable)")
	f.BoolVar(&o.send, "send", false, "send the request and print the status and body")
	f.BoolVar(&o.explain, "explain", false, "also explain the token against the request")
	_ = cmd.MarkFlagRequired("key")
	_ = cmd.MarkFlagRequired("url")
	return cmd
}

func runSign(stdin io.Reader, stdout io.Writer, o signOptions, now time.Time) error {
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
	claims, err := signedrequest.RequestClaims(o.method, target, body, now)
	if err != nil {
		return err
	}
	tok, err := signedrequest.Sign(key, alg, claims)
	if err != nil {
		return err
	}
	if o.explain {
		writeFindings(stdout, signedrequest.Explain(tok, o.method, target, body, now))
	}
	if !o.send {
		fmt.Fprintln(stdout, tok)
		return nil
	}
	return sendSigned(stdout, o, target, body, tok)
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

func sendSigned(stdout io.Writer, o signOptions, target *url.URL, body []byte, tok string) error {
	req, err := http.NewRequest(o.method, target.String(), strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Api-Signature", tok)
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range o.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("--header %q: write it as Name:Value", h)
		}
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("sending: %w", err)
	}
	defer resp.Body.Close()
	fmt.Fprintln(stdout, resp.Status)
	_, err = io.Copy(stdout, io.LimitReader(resp.Body, 1<<20))
	fmt.Fprintln(stdout)
	return err
}

func explainCommand() *cobra.Command {
	var tokenText, method, target, bodyPath string
	cmd := &cobra.Command{
		Use:   "explain --token T [--method M] [--url U] [--body FILE|-]",
		Short: "Say which of the gateway's checks a token fails for a request, and why",
		Long: `Decodes an Api-Signature token without verifying its signature and runs
the gateway's own checks on it: shape and header, alg, signature encoding,
audience, dates, and with --method, --url and --body the binding to the
request. Exits non-zero when a check fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var u *url.URL
			if target != "" {
				var err error
				if u, err = url.Parse(target); err != nil {
					return fmt.Errorf("--url: %w", err)
				}
			}
			var body []byte
			if bodyPath != "" {
				var err error
				if body, err = readBodyFlag(cmd.InOrStdin(), bodyPath); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if parts := strings.Split(strings.TrimSpace(tokenText), "."); len(parts) == 3 {
				fmt.Fprintf(out, "header:  %s\nclaims:  %s\n", decodePart(parts[0]), decodePart(parts[1]))
			}
			if failed := writeFindings(out, signedrequest.Explain(tokenText, method, u, body, time.Now())); failed > 0 {
				return fmt.Errorf("%d %s would fail", failed, plural(failed, "check", "checks"))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&tokenText, "token", "", "the Api-Signature token (required)")
	f.StringVar(&method, "method", "", "the request's method, e.g. POST")
	f.StringVar(&target, "url", "", "the request's URL as sent")
	f.StringVar(&bodyPath, "body", "", "file with the exact body bytes sent, or - for standard input")
	_ = cmd.MarkFlagRequired("token")
	return cmd
}

// writeFindings prints findings one a line, failures marked.
func writeFindings(w io.Writer, findings []signedrequest.Finding) (failed int) {
	for _, f := range findings {
		mark := "ok  "
		if !f.OK {
			mark = "FAIL"
			failed++
		}
		fmt.Fprintf(w, "%s  %-24s %s\n", mark, f.Check, f.Detail)
	}
	return failed
}

// decodePart shows a token part for the reader of explain's output.
func decodePart(part string) string {
	data, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return "(not base64url)"
	}
	return string(data)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

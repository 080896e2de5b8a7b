package caddymodule

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/keyring"
	"github.com/checkoutgw/checkoutgw/signedrequest"
)

// explainOptions are the explain command's flags.
type explainOptions struct {
	token, method, target, bodyPath string
	headers                         []string
	config                          toolGatewayOptions
}

func explainCommand() *cobra.Command {
	var o explainOptions
	cmd := &cobra.Command{
		Use:   "explain --token T [--config FILE [--route ACTION]] [--jwks FILE|URL] [--method M] [--url U] [--body FILE|-] [--header K:V ...]",
		Short: "Say which of the gateway's checks a token fails for a request, and why",
		Long: `Runs the gateway's own checks on an Api-Signature token: shape and header,
alg, the key, audience, dates, and with --method, --url and --body the
binding to the request.

With --config (the gateway's Caddyfile, or its JSON) the checks use that
gateway's rules: audience, algorithms, lifetime, clock skew, methods,
schema and keys (jwks_file read, jwks_url fetched once). With --jwks, or
the config's keys, the signature is verified for real, by the same code as
the gateway, and the key that verified it is named. With api_keys, give
the request's X-Api-Key as --header X-Api-Key:VALUE.

Exits non-zero when the gateway would refuse the request for a reason
these checks cover. Not covered: whether the signature was used before
(replay_protection), rate limits, and the body's size and Content-Type.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runExplain(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.token, "token", "", "the Api-Signature token (required)")
	f.StringVar(&o.method, "method", "", "the request's method, e.g. POST")
	f.StringVar(&o.target, "url", "", "the request's URL as sent")
	f.StringVar(&o.bodyPath, "body", "", "file with the exact body bytes sent, or - for standard input")
	f.StringArrayVar(&o.headers, "header", nil, "a request header, as Name:Value (repeatable), e.g. X-Api-Key:... for a gateway with api_keys")
	f.StringVar(&o.config.jwks, "jwks", "", "a JWK set file or URL to verify the signature with, in place of the config's keys")
	addConfigFlags(f, &o.config)
	_ = cmd.MarkFlagRequired("token")
	return cmd
}

func runExplain(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, o explainOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	req := signedrequest.Request{Method: o.method}
	if o.target != "" {
		u, err := url.Parse(o.target)
		if err != nil {
			return fmt.Errorf("--url: %w", err)
		}
		req.Target = u
	}
	if o.bodyPath != "" {
		body, err := readBodyFlag(stdin, o.bodyPath)
		if err != nil {
			return err
		}
		req.Body = body
	}
	g, err := toolGateway(o.config, toolLogger(stderr), nil)
	if err != nil {
		return err
	}
	var candidates signedrequest.CandidatesFunc
	if o.config.configPath != "" || o.config.jwks != "" {
		if err := g.loadToolKeys(ctx); err != nil {
			return err
		}
		if candidates, err = g.toolCandidates(req, o.headers); err != nil {
			return err
		}
	}
	out := stdout
	if parts := strings.Split(strings.TrimSpace(o.token), "."); len(parts) == 3 {
		fmt.Fprintf(out, "header:  %s\nclaims:  %s\n", decodePart(parts[0]), decodePart(parts[1]))
	}
	findings := g.policy.Explain(ctx, o.token, req, candidates)
	if o.config.configPath != "" {
		findings = append(g.routeFindings(req), findings...)
		if req.Body != nil {
			findings = append(findings, finding("schema", g.schema.Check(req.Body), g.Schema))
		}
	}
	if candidates == nil {
		fmt.Fprintln(out, "note: the signature is not verified; give --jwks FILE|URL or --config to verify it")
	}
	if failed := writeFindings(out, findings); failed > 0 {
		return fmt.Errorf("%d %s would fail", failed, plural(failed, "check", "checks"))
	}
	return nil
}

// routeFindings are the checks the gateway runs before the token's: the
// method is one it lets through.
func (g *Gateway) routeFindings(req signedrequest.Request) []signedrequest.Finding {
	if req.Method == "" {
		return nil
	}
	r, err := newToolRequest(req.Method, &url.URL{Path: "/"}, nil, nil)
	if err != nil {
		return []signedrequest.Finding{{Check: "method allowed", Detail: err.Error()}}
	}
	return []signedrequest.Finding{finding("method allowed", g.checkMethod(r), fmt.Sprintf("route %q lets through %s", g.Action, g.methodSet))}
}

// toolCandidates picks keys as the gateway does for a request with these
// headers: its candidates, tenant binding included.
func (g *Gateway) toolCandidates(req signedrequest.Request, headers []string) (signedrequest.CandidatesFunc, error) {
	target := req.Target
	if target == nil {
		target = &url.URL{Path: "/"}
	}
	r, err := newToolRequest(cmp.Or(req.Method, "POST"), target, nil, headers)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tok *signedrequest.Token) ([]*keyring.Key, *envelope.Rejection) {
		return g.candidates(nil, r.WithContext(ctx), tok)
	}, nil
}

// finding reports one of the gateway's checks: failed with the refusal's
// Detail, or passed with okDetail.
func finding(check string, rej *envelope.Rejection, okDetail string) signedrequest.Finding {
	if rej != nil {
		return signedrequest.Finding{Check: check, Detail: rej.Detail}
	}
	return signedrequest.Finding{Check: check, OK: true, Detail: okDetail}
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

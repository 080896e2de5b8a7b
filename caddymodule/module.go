package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/checkoutgw/checkoutgw/jsonbody"
	"github.com/checkoutgw/checkoutgw/keyring"
	"github.com/checkoutgw/checkoutgw/ratelimit"
	"github.com/checkoutgw/checkoutgw/replay"
	"github.com/checkoutgw/checkoutgw/signedrequest"
)

func init() {
	caddy.RegisterModule(new(Gateway))
}

// Defaults, as SPEC section 2 gives them. Those of the token rules are
// signedrequest's, shared with `caddy checkout explain`.
const (
	defaultSignatureHeader = "Api-Signature"
	defaultSchema          = "create_managed_session"
	defaultMaxBodySize     = 64 << 10
	defaultBodyReadTimeout = 10 * time.Second
	keyIDHeader            = "X-Checkout-Key-ID"
	// keyIDHeaderKey is keyIDHeader as http.Header stores it, so that
	// setting it need not canonicalise the name on every request.
	keyIDHeaderKey = "X-Checkout-Key-Id"
)

// Gateway guards a checkout API: it lets through only requests whose
// Api-Signature JWT was signed by a trusted key for exactly this request and
// whose body satisfies the endpoint's JSON schema. It answers every refusal
// itself with the provider's error envelope and hands accepted requests,
// byte for byte, to the next handler (normally reverse_proxy).
type Gateway struct {
	// Paths of JWK set files holding the trusted public signing keys. Read
	// once at provision; an unreadable file, a file without a usable key, or
	// two keys with one kid is a config error.
	JWKSFiles []string `json:"jwks_files,omitempty"`

	// Remote JWK sets, fetched in the background and refreshed on an
	// interval and, rate limited, when a token names an unknown kid. Their
	// keys join those of the files. Until a first set arrives (and with no
	// key file), requests get 503.
	JWKSURLs []JWKSURL `json:"jwks_urls,omitempty"`

	// Path of a JSON object mapping the lowercase hex SHA-256 of each API
	// key to the kids registered for it. When set, X-Api-Key must be present
	// and registered, and only its keys may verify the request's token.
	APIKeys string `json:"api_keys,omitempty"`

	// One-time use of request signatures. Off by default: some clients
	// legitimately retry with the same signature.
	ReplayProtection *ReplayProtection `json:"replay_protection,omitempty"`

	// Groups of checks whose failures are reported instead of refused:
	// `signature`, `body`, `replay`, `rate_limit`. A would-be refusal is
	// logged at Warn, counted under outcome `reported` and the request
	// forwarded. The gateway's own limits (path, framing, size, read time)
	// are always enforced. Default: none (everything enforced)
	ReportOnly []string `json:"report_only,omitempty"`

	// A limit on requests per verified identity. Off by default.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`

	// The audience that every token's `aud` must contain.
	// Default: `https://api.noah.com`
	Audience string `json:"audience,omitempty"`

	// The JWS algorithms accepted. `none` and HMAC are never accepted.
	// Default: `["ES384", "ES256"]`
	Algorithms []string `json:"algorithms,omitempty"`

	// The longest a token may live: `exp - iat` may not exceed it.
	// Default: `15m`
	MaxTokenLifetime caddy.Duration `json:"max_token_lifetime,omitempty"`

	// Leeway for clock differences when checking `iat`, `exp` and `nbf`.
	// Default: `60s`
	ClockSkew caddy.Duration `json:"clock_skew,omitempty"`

	// The request header that carries the signed JWT.
	// Default: `Api-Signature`
	SignatureHeader string `json:"signature_header,omitempty"`

	// The HTTP methods let through; others get 405 with `Allow`.
	// Default: `["POST"]`
	Methods []string `json:"methods,omitempty"`

	// The JSON schema for request bodies: a built-in name or the path of a
	// JSON Schema file (no remote references are loaded).
	// Default: `create_managed_session`
	Schema string `json:"schema,omitempty"`

	// Guard every operation of an OpenAPI document instead of one schema;
	// not together with `schema` or `methods`.
	OpenAPI *OpenAPI `json:"openapi,omitempty"`

	// The envelope's `Action`. Default: the schema's `title`.
	Action string `json:"action,omitempty"`

	// The largest request body accepted, in bytes.
	// Default: `65536` (64 KiB)
	MaxBodySize int64 `json:"max_body_size,omitempty"`

	// How long a client has to send the whole body.
	// Default: `10s`
	BodyReadTimeout caddy.Duration `json:"body_read_timeout,omitempty"`

	// How many keys are tried for a token without `kid`.
	// Default: `4`
	MaxKeyAttempts int `json:"max_key_attempts,omitempty"`

	policy      signedrequest.Policy
	ring        *keyring.Ring
	tenants     *keyring.TenantFile
	watched     map[string][]byte // key files as Provision read them, for the watcher
	watcher     *keyring.Watcher
	replay      replay.Store
	rateLimiter ratelimit.Store
	schema      *jsonbody.Schema
	api         *openAPIGuard
	methodSet   string // the Allow header value
	logger      *zap.Logger
	metrics     *gatewayMetrics
	now         func() time.Time
}

// CaddyModule returns the Caddy module information.
func (*Gateway) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.checkout_gateway",
		New: func() caddy.Module { return new(Gateway) },
	}
}

// Provision applies defaults, reads key files and compiles the schema.
func (g *Gateway) Provision(ctx caddy.Context) error {
	g.logger = ctx.Logger()
	if g.now == nil {
		g.now = time.Now
	}
	if err := g.provisionOpenAPI(ctx); err != nil {
		return err
	}
	if err := g.provisionContract(); err != nil {
		return err
	}
	g.warnIfLogsRecordSecrets(ctx)
	metrics, err := newGatewayMetrics(ctx.GetMetricsRegistry(), g.Action)
	if err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	g.metrics = metrics
	g.policy.Observe = g.metrics.observeVerification
	if err := g.loadLocalKeys(); err != nil {
		return err
	}
	if err := checkReportGroups(g.ReportOnly); err != nil {
		return err
	}
	if err := g.startReplayProtection(); err != nil {
		return err
	}
	if err := g.startRateLimit(); err != nil {
		return err
	}
	if err := g.startKeySources(); err != nil {
		return err
	}
	g.watchKeyFiles(ctx)
	liveGateways.add(g)
	return nil
}

// provisionContract applies defaults and builds what judges a request
// without any store or network: the token policy, the schema, the action
// and the methods. `caddy checkout sign` and `explain` build a gateway from
// a config through it too, so they hold the gateway's own rules.
func (g *Gateway) provisionContract() error {
	g.applyDefaults()
	if err := g.checkAlgorithms(); err != nil {
		return err
	}
	g.policy = signedrequest.Policy{
		Audience:       g.Audience,
		Algorithms:     g.Algorithms,
		ClockSkew:      time.Duration(g.ClockSkew),
		MaxLifetime:    time.Duration(g.MaxTokenLifetime),
		MaxKeyAttempts: g.MaxKeyAttempts,
		Now:            g.now,
	}
	schema, err := jsonbody.Load(g.Schema, g.now)
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	g.schema = schema
	if g.Action == "" {
		g.Action = schema.Title()
	}
	g.methodSet = strings.Join(g.Methods, ", ")
	return nil
}

// Cleanup stops watching the key files and leaves the shared key
// refreshers, which stop when no config uses them any more.
func (g *Gateway) Cleanup() error {
	liveGateways.remove(g)
	g.stopWatching()
	g.stopKeySources()
	if g.replay != nil {
		g.ReplayProtection.release()
		g.replay = nil
	}
	if g.rateLimiter != nil {
		g.RateLimit.release()
		g.rateLimiter = nil
	}
	return nil
}

func (g *Gateway) applyDefaults() {
	if g.Audience == "" {
		g.Audience = signedrequest.DefaultAudience
	}
	if len(g.Algorithms) == 0 {
		g.Algorithms = slices.Clone(signedrequest.DefaultAlgorithms)
	}
	if g.MaxTokenLifetime == 0 {
		g.MaxTokenLifetime = caddy.Duration(signedrequest.DefaultMaxTokenLifetime)
	}
	if g.ClockSkew == 0 {
		g.ClockSkew = caddy.Duration(signedrequest.DefaultClockSkew)
	}
	if g.SignatureHeader == "" {
		g.SignatureHeader = defaultSignatureHeader
	}
	if len(g.Methods) == 0 {
		g.Methods = []string{http.MethodPost}
	}
	// Methods are case-sensitive on the wire, but `methods post` can only
	// mean POST: taken as written it would refuse every request.
	for i, m := range g.Methods {
		g.Methods[i] = strings.ToUpper(m)
	}
	if g.Schema == "" {
		g.Schema = defaultSchema
	}
	if g.MaxBodySize == 0 {
		g.MaxBodySize = defaultMaxBodySize
	}
	if g.BodyReadTimeout == 0 {
		g.BodyReadTimeout = caddy.Duration(defaultBodyReadTimeout)
	}
	if g.MaxKeyAttempts == 0 {
		g.MaxKeyAttempts = signedrequest.DefaultMaxKeyAttempts
	}
}

func (g *Gateway) checkAlgorithms() error {
	for _, name := range g.Algorithms {
		if !keyring.Supported(name) {
			return fmt.Errorf("algorithms: %q is not a supported signature algorithm (supported: %s)", name, strings.Join(keyring.SupportedNames(), ", "))
		}
	}
	return nil
}

// listedOnce refuses a path given twice: its keys would collide with
// themselves, and the error would name a kid instead of the repeated line.
func listedOnce(option string, paths []string) error {
	seen := make(map[string]bool, len(paths))
	for _, p := range paths {
		clean := filepath.Clean(p)
		if seen[clean] {
			return fmt.Errorf("%s %s: listed more than once; give each key file once", option, p)
		}
		seen[clean] = true
	}
	return nil
}

// Validate checks the provisioned configuration without changing it.
func (g *Gateway) Validate() error {
	var errs []error
	if len(g.JWKSFiles) == 0 && len(g.JWKSURLs) == 0 {
		errs = append(errs, errors.New("no key source: set jwks_file or jwks_url"))
	}
	if g.MaxTokenLifetime < 0 {
		errs = append(errs, errors.New("max_token_lifetime must be positive"))
	}
	if g.ClockSkew < 0 {
		errs = append(errs, errors.New("clock_skew must not be negative"))
	}
	if g.MaxBodySize < 0 {
		errs = append(errs, errors.New("max_body_size must be positive"))
	}
	if g.BodyReadTimeout < 0 {
		errs = append(errs, errors.New("body_read_timeout must be positive"))
	}
	if g.MaxKeyAttempts < 0 {
		errs = append(errs, errors.New("max_key_attempts must be positive"))
	}
	if rp := g.ReplayProtection; rp != nil && rp.MaxEntries < 0 {
		errs = append(errs, errors.New("replay_protection max_entries must be positive"))
	}
	return errors.Join(errs...)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Gateway)(nil)
	_ caddy.Validator             = (*Gateway)(nil)
	_ caddy.CleanerUpper          = (*Gateway)(nil)
	_ caddyhttp.MiddlewareHandler = (*Gateway)(nil)
	_ caddyfile.Unmarshaler       = (*Gateway)(nil)
)

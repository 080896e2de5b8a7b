package caddymodule

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("checkout_gateway", parseCaddyfile)
	// With the authentication directives, so that no handle, route or
	// reverse_proxy can run before the guard wherever it is written.
	httpcaddyfile.RegisterDirectiveOrder("checkout_gateway", httpcaddyfile.After, "basic_auth")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	g := new(Gateway)
	err := g.UnmarshalCaddyfile(h.Dispenser)
	return g, err
}

// UnmarshalCaddyfile sets up the gateway from Caddyfile tokens. Syntax:
//
//	checkout_gateway [<matcher>] {
//		jwks_file          <path>                 # repeatable
//		jwks_url           <url> {                # repeatable; a file or a URL at least
//			refresh <duration>
//			timeout <duration>
//		}
//		api_keys           <path>
//		replay_protection  memory [max_entries <n>]
//		replay_protection  redis <url> [key_prefix <prefix>] [ca_file <pem>] [on_error closed|open]
//		                   [replicas <n>]
//		rate_limit         <n>/<period> [burst <b>] [per kid|api_key] [store memory|redis <url>]
//		                   [key_prefix <prefix>] [ca_file <pem>] [on_error closed|open]
//		report_only        [signature] [body] [replay] [rate_limit]   # no argument: all
//		audience           <aud>
//		algorithms         <alg...>
//		max_token_lifetime <duration>
//		clock_skew         <duration>
//		signature_header   <header>
//		methods            <method...>
//		schema             <name|path>
//		openapi            <file> {               # instead of schema and methods
//			base_path          <path>
//			validate_responses log|enforce
//		}
//		action             <action>
//		max_body_size      <size>
//		body_read_timeout  <duration>
//		max_key_attempts   <n>
//	}
//
// Every option but jwks_file and jwks_url may appear once; unknown options, missing or
// extra arguments and nested blocks are errors that name the option.
func (g *Gateway) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := make(map[string]bool)
	for d.NextBlock(0) {
		option := d.Val()
		if option != "jwks_file" && option != "jwks_url" && seen[option] {
			return d.Errf("%s: option given more than once", option)
		}
		seen[option] = true
		if option == "jwks_url" {
			if err := g.unmarshalJWKSURL(d); err != nil {
				return err
			}
			continue
		}
		if err := g.unmarshalOption(d, option); err != nil {
			return err
		}
		if d.NextBlock(1) {
			return d.Errf("%s: takes no block", option)
		}
	}
	return nil
}

// caddyfileOptions are the options UnmarshalCaddyfile takes, named in the
// error for an unknown one. A test holds this list, the syntax in
// UnmarshalCaddyfile's comment and the parser to the same set.
var caddyfileOptions = []string{
	"jwks_file", "jwks_url", "api_keys", "replay_protection", "audience", "algorithms",
	"max_token_lifetime", "clock_skew", "signature_header", "methods", "schema", "action",
	"max_body_size", "body_read_timeout", "max_key_attempts", "report_only", "rate_limit", "openapi",
}

func (g *Gateway) unmarshalOption(d *caddyfile.Dispenser, option string) error {
	switch option {
	case "jwks_file":
		path, err := oneArg(d, option)
		g.JWKSFiles = append(g.JWKSFiles, path)
		return err
	case "api_keys":
		return setString(d, option, &g.APIKeys)
	case "replay_protection":
		return g.unmarshalReplayProtection(d)
	case "rate_limit":
		return g.unmarshalRateLimit(d)
	case "report_only":
		return g.unmarshalReportOnly(d)
	case "audience":
		return setString(d, option, &g.Audience)
	case "signature_header":
		return setString(d, option, &g.SignatureHeader)
	case "schema":
		return setString(d, option, &g.Schema)
	case "openapi":
		return g.unmarshalOpenAPI(d)
	case "action":
		return setString(d, option, &g.Action)
	case "algorithms":
		return setList(d, option, &g.Algorithms)
	case "methods":
		return setList(d, option, &g.Methods)
	case "max_token_lifetime":
		return setDuration(d, option, &g.MaxTokenLifetime)
	case "clock_skew":
		return setDuration(d, option, &g.ClockSkew)
	case "body_read_timeout":
		return setDuration(d, option, &g.BodyReadTimeout)
	case "max_body_size":
		arg, err := oneArg(d, option)
		if err != nil {
			return err
		}
		size, err := humanize.ParseBytes(arg)
		if err != nil || size == 0 || size > 1<<30 {
			return d.Errf("max_body_size: %q is not a size between 1 byte and 1GiB", arg)
		}
		g.MaxBodySize = int64(size)
		return nil
	case "max_key_attempts":
		arg, err := oneArg(d, option)
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 {
			return d.Errf("max_key_attempts: %q is not a positive whole number", arg)
		}
		g.MaxKeyAttempts = n
		return nil
	}
	return d.Errf("unknown option %q%s; the options are %s", option, didYouMean(option, caddyfileOptions), strings.Join(caddyfileOptions, ", "))
}

// unmarshalOpenAPI reads `openapi <file> [{ base_path <path>; validate_responses log|enforce }]`.
func (g *Gateway) unmarshalOpenAPI(d *caddyfile.Dispenser) error {
	file, err := oneArg(d, "openapi")
	if err != nil {
		return err
	}
	g.OpenAPI = &OpenAPI{File: file}
	for d.NextBlock(1) {
		switch option := d.Val(); option {
		case "base_path":
			if g.OpenAPI.BasePath != "" {
				return d.Errf("openapi base_path: option given more than once")
			}
			if err := setString(d, "openapi base_path", &g.OpenAPI.BasePath); err != nil {
				return err
			}
		case "validate_responses":
			if g.OpenAPI.ValidateResponses != "" {
				return d.Errf("openapi validate_responses: option given more than once")
			}
			if err := setString(d, "openapi validate_responses", &g.OpenAPI.ValidateResponses); err != nil {
				return err
			}
			if !slices.Contains(responseModes, g.OpenAPI.ValidateResponses) {
				return d.Errf("openapi validate_responses: %q is not one of %s", g.OpenAPI.ValidateResponses, strings.Join(responseModes, ", "))
			}
		default:
			return d.Errf("openapi: unknown option %q", option)
		}
	}
	return nil
}

// unmarshalJWKSURL reads `jwks_url <url> [{ refresh <duration> }]`.
func (g *Gateway) unmarshalJWKSURL(d *caddyfile.Dispenser) error {
	rawURL, err := oneArg(d, "jwks_url")
	if err != nil {
		return err
	}
	u := JWKSURL{URL: rawURL}
	seen := make(map[string]bool)
	for d.NextBlock(1) {
		option := d.Val()
		if seen[option] {
			return d.Errf("jwks_url %s: option given more than once", option)
		}
		seen[option] = true
		switch option {
		case "refresh":
			if err := setDuration(d, "jwks_url refresh", &u.Refresh); err != nil {
				return err
			}
			if time.Duration(u.Refresh) < time.Second {
				return d.Errf("jwks_url refresh: must be at least 1s")
			}
		case "timeout":
			if err := setDuration(d, "jwks_url timeout", &u.Timeout); err != nil {
				return err
			}
		default:
			return d.Errf("jwks_url: unknown option %q%s; the options are refresh, timeout", option, didYouMean(option, []string{"refresh", "timeout"}))
		}
	}
	g.JWKSURLs = append(g.JWKSURLs, u)
	return nil
}

// unmarshalReplayProtection reads `replay_protection memory [max_entries N]`
// or `replay_protection redis <url> [key_prefix P] [ca_file F] [on_error closed|open] [replicas N]`.
func (g *Gateway) unmarshalReplayProtection(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Errf("replay_protection: name a store, memory or redis")
	}
	rp := &ReplayProtection{Store: args[0]}
	rest := args[1:]
	switch rp.Store {
	case "memory":
	case "redis":
		if len(rest) == 0 {
			return d.Errf("replay_protection redis: the Redis URL is missing")
		}
		rp.RedisURL, rest = rest[0], rest[1:]
	default:
		return d.Errf("replay_protection: store %q is neither memory nor redis", rp.Store)
	}
	if len(rest)%2 != 0 {
		return d.Errf("replay_protection: %q has no value", rest[len(rest)-1])
	}
	seen := make(map[string]bool)
	for i := 0; i < len(rest); i += 2 {
		name, value := rest[i], rest[i+1]
		if seen[name] {
			return d.Errf("replay_protection %s: given more than once", name)
		}
		seen[name] = true
		switch {
		case name == "max_entries" && rp.Store == "memory":
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 {
				return d.Errf("replay_protection max_entries: %q is not a positive whole number", value)
			}
			rp.MaxEntries = n
		case name == "key_prefix" && rp.Store == "redis":
			rp.KeyPrefix = value
		case name == "ca_file" && rp.Store == "redis":
			rp.CAFile = value
		case name == "on_error" && rp.Store == "redis":
			if value != "open" && value != "closed" {
				return d.Errf("replay_protection on_error: %q is neither open nor closed", value)
			}
			rp.OnError = value
		case name == "replicas" && rp.Store == "redis":
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				return d.Errf("replay_protection replicas: %q is not a whole number", value)
			}
			rp.Replicas = &n
		default:
			return d.Errf("replay_protection %s: unknown option %q", rp.Store, name)
		}
	}
	g.ReplayProtection = rp
	return nil
}

func oneArg(d *caddyfile.Dispenser, option string) (string, error) {
	args := d.RemainingArgs()
	if len(args) != 1 {
		return "", d.Errf("%s: takes exactly one argument, got %d", option, len(args))
	}
	return args[0], nil
}

func setString(d *caddyfile.Dispenser, option string, dst *string) error {
	v, err := oneArg(d, option)
	*dst = v
	return err
}

func setList(d *caddyfile.Dispenser, option string, dst *[]string) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Errf("%s: takes at least one argument", option)
	}
	*dst = args
	return nil
}

func setDuration(d *caddyfile.Dispenser, option string, dst *caddy.Duration) error {
	arg, err := oneArg(d, option)
	if err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(arg)
	if err != nil || dur <= 0 || dur > 24*time.Hour {
		return d.Errf("%s: %q is not a duration between 0 and 24h; write it like 90s, 15m or 1h30m", option, arg)
	}
	*dst = caddy.Duration(dur)
	return nil
}

// didYouMean suggests the known name closest to a misspelt one, when one is
// close enough to be a likely typo.
func didYouMean(name string, known []string) string {
	best, bestDistance := "", len(name)/2+1
	for _, k := range known {
		if d := editDistance(name, k); d < bestDistance {
			best, bestDistance = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

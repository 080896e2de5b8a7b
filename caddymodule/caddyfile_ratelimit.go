package caddymodule

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// unmarshalRateLimit reads `rate_limit <n>/<period> [burst <b>] [per
// kid|api_key] [store memory|redis <url>] [key_prefix <p>] [ca_file <pem>]
// [on_error closed|open]`.
func (g *Gateway) unmarshalRateLimit(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Errf("rate_limit: give the limit as <n>/<period>, e.g. 10/1s")
	}
	rl := &RateLimit{}
	n, period, ok := strings.Cut(args[0], "/")
	rate, err := strconv.Atoi(n)
	dur, durErr := caddy.ParseDuration(period)
	if !ok || err != nil || rate < 1 || durErr != nil || dur <= 0 || dur > 24*time.Hour {
		return d.Errf("rate_limit: %q is not <n>/<period> with n a positive whole number and period a duration up to 24h", args[0])
	}
	rl.Rate, rl.Period = rate, caddy.Duration(dur)
	rest := args[1:]
	seen := make(map[string]bool)
	for len(rest) > 0 {
		name := rest[0]
		if len(rest) < 2 {
			return d.Errf("rate_limit: %q has no value", name)
		}
		if seen[name] {
			return d.Errf("rate_limit %s: given more than once", name)
		}
		seen[name] = true
		value := rest[1]
		rest = rest[2:]
		switch name {
		case "burst":
			b, err := strconv.Atoi(value)
			if err != nil || b < 1 {
				return d.Errf("rate_limit burst: %q is not a positive whole number", value)
			}
			rl.Burst = b
		case "per":
			if value != "kid" && value != "api_key" {
				return d.Errf("rate_limit per: %q is neither kid nor api_key", value)
			}
			rl.Per = value
		case "store":
			rl.Store = value
			switch value {
			case "memory":
			case "redis":
				if len(rest) == 0 {
					return d.Errf("rate_limit store redis: the Redis URL is missing")
				}
				rl.RedisURL, rest = rest[0], rest[1:]
			default:
				return d.Errf("rate_limit store: %q is neither memory nor redis", value)
			}
		case "key_prefix":
			rl.KeyPrefix = value
		case "ca_file":
			rl.CAFile = value
		case "on_error":
			if value != "open" && value != "closed" {
				return d.Errf("rate_limit on_error: %q is neither open nor closed", value)
			}
			rl.OnError = value
		default:
			return d.Errf("rate_limit: unknown option %q", name)
		}
	}
	if rl.Store != "redis" && (rl.KeyPrefix != "" || rl.CAFile != "" || rl.OnError != "") {
		return d.Errf("rate_limit: key_prefix, ca_file and on_error are for store redis")
	}
	g.RateLimit = rl
	return nil
}

// unmarshalReportOnly reads `report_only [signature] [body] [replay]
// [rate_limit]`; without arguments, every group.
func (g *Gateway) unmarshalReportOnly(d *caddyfile.Dispenser) error {
	groups := d.RemainingArgs()
	if len(groups) == 0 {
		groups = slices.Clone(reportGroups)
	}
	for i, group := range groups {
		if !slices.Contains(reportGroups, group) {
			return d.Errf("report_only: %q is not one of %s", group, strings.Join(reportGroups, ", "))
		}
		if slices.Contains(groups[:i], group) {
			return d.Errf("report_only: %q given more than once", group)
		}
	}
	g.ReportOnly = groups
	return nil
}

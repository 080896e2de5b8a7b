package signedrequest

import (
	"cmp"
	"context"
	"math"
	"slices"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/keyring"
)

// Defaults, as SPEC section 2 gives them. The gateway's configuration and
// `caddy checkout explain` both start from these.
const (
	DefaultAudience         = "https://api.noah.com"
	DefaultMaxTokenLifetime = 15 * time.Minute
	DefaultClockSkew        = 60 * time.Second
	DefaultMaxKeyAttempts   = 4
)

// DefaultAlgorithms are the algorithms accepted unless configured otherwise.
// Callers clone it before keeping it.
var DefaultAlgorithms = []string{"ES384", "ES256"}

// Policy is what a deployment decides about tokens: the audience, the
// algorithms, the time rules and how many keys a token without kid may cost.
// Build it once, after defaults are applied; its methods only read it.
type Policy struct {
	Audience       string
	Algorithms     []string
	ClockSkew      time.Duration
	MaxLifetime    time.Duration
	MaxKeyAttempts int
	Now            func() time.Time
	// Observe, if set, receives the time of each signature verification.
	Observe func(time.Duration)
}

// DefaultPolicy is the policy of a gateway configured with no options, on
// a clock that reads now.
func DefaultPolicy(now time.Time) Policy {
	return Policy{
		Audience:       DefaultAudience,
		Algorithms:     slices.Clone(DefaultAlgorithms),
		ClockSkew:      DefaultClockSkew,
		MaxLifetime:    DefaultMaxTokenLifetime,
		MaxKeyAttempts: DefaultMaxKeyAttempts,
		Now:            func() time.Time { return now },
	}
}

// CheckAlgorithm refuses an alg outside the policy's algorithms.
func (p *Policy) CheckAlgorithm(tok *Token) *envelope.Rejection {
	if !slices.Contains(p.Algorithms, tok.alg) {
		return envelope.Reject(envelope.ReasonAlgNotAllowed, "alg %q is not accepted; use one of %v", envelope.Clip(tok.alg), p.Algorithms)
	}
	return nil
}

// AppendCandidates picks the keys that may verify the token: the one its kid
// names, or for a token without kid those that serve its alg, at most
// MaxKeyAttempts of them, the most recently successful first. A non-nil
// tenantKids admits only the keys registered for the request's tenant.
// The keys are appended to dst, so that a caller with room for them
// spends no allocation.
func (p *Policy) AppendCandidates(dst []*keyring.Key, ctx context.Context, ring *keyring.Ring, tok *Token, tenantKids []string) ([]*keyring.Key, *envelope.Rejection) {
	if tok.kid != "" {
		key, ok := ring.Lookup(ctx, tok.kid)
		if !ok {
			return nil, envelope.Reject(envelope.ReasonKidUnknown, "kid %q is not a known signing key", envelope.Clip(tok.kid))
		}
		if tenantKids != nil && !slices.Contains(tenantKids, tok.kid) {
			return nil, envelope.Reject(envelope.ReasonAPIKeyMismatch, "key %q is not registered for this X-Api-Key", tok.kid)
		}
		if key.Alg() != tok.alg {
			return nil, envelope.Reject(envelope.ReasonAlgNotAllowed, "alg %s does not match key %q, which is for %s", tok.alg, tok.kid, key.Alg())
		}
		return append(dst, key), nil
	}
	fitting := ring.Keys().ForAlg(tok.alg)
	if tenantKids != nil {
		fitting = slices.DeleteFunc(slices.Clone(fitting), func(k *keyring.Key) bool { return !slices.Contains(tenantKids, k.Kid()) })
	}
	switch {
	case len(fitting) == 0:
		return nil, envelope.Reject(envelope.ReasonNoKeyVerified, "no trusted key serves alg %s", envelope.Clip(tok.alg))
	case len(fitting) > p.MaxKeyAttempts:
		return nil, envelope.Reject(envelope.ReasonNoKeyVerified, "the token has no kid and %d keys serve alg %s, more than the %d that are tried; put the key's kid in the token header", len(fitting), tok.alg, p.MaxKeyAttempts)
	}
	ordered := append(dst, fitting...)
	slices.SortStableFunc(ordered[len(dst):], func(a, b *keyring.Key) int {
		return cmp.Compare(b.LastVerified(), a.LastVerified())
	})
	return ordered, nil
}

// CheckClaims checks audience and time.
func (p *Policy) CheckClaims(c *Claims) *envelope.Rejection {
	if rej := p.CheckAudience(c); rej != nil {
		return rej
	}
	return p.CheckTimes(c)
}

// CheckAudience refuses a token whose aud lacks the policy's audience.
func (p *Policy) CheckAudience(c *Claims) *envelope.Rejection {
	if !slices.Contains(c.audience, p.Audience) {
		return envelope.Reject(envelope.ReasonAudience, "aud must contain %s", p.Audience)
	}
	return nil
}

// CheckTimes compares dates in fractional seconds; the skew is granted on
// each side.
func (p *Policy) CheckTimes(c *Claims) *envelope.Rejection {
	now := float64(p.Now().UnixNano()) / 1e9
	skew := p.ClockSkew.Seconds()
	lifetime := p.MaxLifetime.Seconds()
	switch {
	case c.expiresAt <= c.issuedAt:
		return envelope.Reject(envelope.ReasonTokenLifetime, "exp must be after iat")
	case c.expiresAt-c.issuedAt > lifetime:
		return envelope.Reject(envelope.ReasonTokenLifetime, "the token lives %s (exp - iat), more than the %s allowed", seconds(c.expiresAt-c.issuedAt), p.MaxLifetime)
	case now-c.expiresAt > skew:
		return envelope.Reject(envelope.ReasonTokenExpired, "token expired %s ago", seconds(now-c.expiresAt))
	case c.issuedAt-now > skew:
		return envelope.Reject(envelope.ReasonTokenNotYetValid, "iat is %s in the future, beyond the allowed clock skew of %s", seconds(c.issuedAt-now), p.ClockSkew)
	case c.hasNotBefore && c.notBefore-now > skew:
		return envelope.Reject(envelope.ReasonTokenNotYetValid, "nbf is %s in the future, beyond the allowed clock skew of %s", seconds(c.notBefore-now), p.ClockSkew)
	}
	return nil
}

// seconds renders a span of seconds for a Detail, to the second.
func seconds(s float64) time.Duration {
	if s > math.MaxInt64/1e9 {
		return time.Duration(math.MaxInt64).Round(time.Second)
	}
	return time.Duration(s * 1e9).Round(time.Second)
}

// Verify tries each candidate key; the first that verifies wins.
func (p *Policy) Verify(tok *Token, candidates []*keyring.Key) (*keyring.Key, *envelope.Rejection) {
	for _, key := range candidates {
		start := time.Now()
		err := key.Verify(tok.signingInput, tok.signature)
		if p.Observe != nil {
			p.Observe(time.Since(start))
		}
		if err == nil {
			return key, nil
		}
	}
	if tok.kid != "" {
		return nil, envelope.Reject(envelope.ReasonSignatureInvalid, "the signature does not verify with key %q", tok.kid)
	}
	return nil, envelope.Reject(envelope.ReasonNoKeyVerified, "the token has no kid and none of the %d keys for %s verifies it", len(candidates), tok.alg)
}

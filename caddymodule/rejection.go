package caddymodule

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// reason is a stable code for why a request was refused. Codes appear in
// logs, metrics and the {http.checkout_gateway.reason} placeholder, so they
// never change meaning once published.
type reason string

const (
	reasonPathNotCanonical   reason = "path_not_canonical"
	reasonQueryMalformed     reason = "query_malformed"
	reasonHopByHopHeader     reason = "hop_by_hop_header"
	reasonTrailers           reason = "trailers"
	reasonMethodNotAllowed   reason = "method_not_allowed"
	reasonTokenMissing       reason = "token_missing"
	reasonTokenMalformed     reason = "token_malformed"
	reasonTokenHeader        reason = "token_header"
	reasonAlgNotAllowed      reason = "alg_not_allowed"
	reasonKidUnknown         reason = "kid_unknown"
	reasonAPIKey             reason = "api_key"
	reasonAPIKeyMismatch     reason = "api_key_mismatch"
	reasonNoKeyVerified      reason = "no_key_verified"
	reasonSignatureInvalid   reason = "signature_invalid"
	reasonReplayed           reason = "replayed"
	reasonReplayStoreFull    reason = "replay_store_full"
	reasonReplayStoreDown    reason = "replay_store_unavailable"
	reasonClaimMissing       reason = "claim_missing"
	reasonClaimType          reason = "claim_type"
	reasonAudience           reason = "audience"
	reasonTokenExpired       reason = "token_expired"
	reasonTokenNotYetValid   reason = "token_not_yet_valid"
	reasonTokenLifetime      reason = "token_lifetime"
	reasonMethodMismatch     reason = "method_mismatch"
	reasonPathMismatch       reason = "path_mismatch"
	reasonQueryMismatch      reason = "query_mismatch"
	reasonBodyHashMismatch   reason = "body_hash_mismatch"
	reasonMediaType          reason = "media_type"
	reasonContentEncoding    reason = "content_encoding"
	reasonBodyTooLarge       reason = "body_too_large"
	reasonBodyTimeout        reason = "body_timeout"
	reasonBodyUnreadable     reason = "body_unreadable"
	reasonBodyNotJSON        reason = "body_not_json"
	reasonSchema             reason = "schema"
	reasonNoKeys             reason = "no_keys_loaded"
	reasonUpstreamDown       reason = "upstream_unreachable"
	reasonUpstreamTimeout    reason = "upstream_timeout"
	reasonUpstreamError      reason = "upstream_error"
	reasonInternal           reason = "internal_error"
	reasonUpgrade            reason = "upgrade"
	reasonMethodOverride     reason = "method_override"
	reasonEarlyData          reason = "early_data"
	reasonBodyLength         reason = "body_length_mismatch"
	reasonRateLimited        reason = "rate_limited"
	reasonRateLimitStoreDown reason = "rate_limit_store_unavailable"
	reasonHandlerError       reason = "handler_error"
)

// Envelope Types, as the provider documents them.
const (
	typeInvalidMessage   = "InvalidMessage"
	typeUnexpected       = "Unexpected"
	typeResourceNotFound = "ResourceNotFound"
	typeUnauthorized     = "Unauthorized"
	typeForbidden        = "Forbidden"
	typeInsufficient     = "InsufficientBalance"
)

// verdict is what a reason answers with.
type verdict struct {
	status int
	typ    string
}

var verdicts = map[reason]verdict{
	reasonPathNotCanonical:   {http.StatusBadRequest, typeInvalidMessage},
	reasonQueryMalformed:     {http.StatusBadRequest, typeInvalidMessage},
	reasonHopByHopHeader:     {http.StatusBadRequest, typeInvalidMessage},
	reasonTrailers:           {http.StatusBadRequest, typeInvalidMessage},
	reasonMethodNotAllowed:   {http.StatusMethodNotAllowed, typeInvalidMessage},
	reasonTokenMissing:       {http.StatusUnauthorized, typeUnauthorized},
	reasonTokenMalformed:     {http.StatusUnauthorized, typeUnauthorized},
	reasonTokenHeader:        {http.StatusUnauthorized, typeUnauthorized},
	reasonAlgNotAllowed:      {http.StatusUnauthorized, typeUnauthorized},
	reasonKidUnknown:         {http.StatusUnauthorized, typeUnauthorized},
	reasonAPIKey:             {http.StatusUnauthorized, typeUnauthorized},
	reasonAPIKeyMismatch:     {http.StatusUnauthorized, typeUnauthorized},
	reasonNoKeyVerified:      {http.StatusUnauthorized, typeUnauthorized},
	reasonSignatureInvalid:   {http.StatusUnauthorized, typeUnauthorized},
	reasonReplayed:           {http.StatusUnauthorized, typeUnauthorized},
	reasonReplayStoreFull:    {http.StatusServiceUnavailable, typeUnexpected},
	reasonReplayStoreDown:    {http.StatusServiceUnavailable, typeUnexpected},
	reasonClaimMissing:       {http.StatusUnauthorized, typeUnauthorized},
	reasonClaimType:          {http.StatusUnauthorized, typeUnauthorized},
	reasonAudience:           {http.StatusUnauthorized, typeUnauthorized},
	reasonTokenExpired:       {http.StatusUnauthorized, typeUnauthorized},
	reasonTokenNotYetValid:   {http.StatusUnauthorized, typeUnauthorized},
	reasonTokenLifetime:      {http.StatusUnauthorized, typeUnauthorized},
	reasonMethodMismatch:     {http.StatusUnauthorized, typeUnauthorized},
	reasonPathMismatch:       {http.StatusUnauthorized, typeUnauthorized},
	reasonQueryMismatch:      {http.StatusUnauthorized, typeUnauthorized},
	reasonBodyHashMismatch:   {http.StatusUnauthorized, typeUnauthorized},
	reasonMediaType:          {http.StatusUnsupportedMediaType, typeInvalidMessage},
	reasonContentEncoding:    {http.StatusUnsupportedMediaType, typeInvalidMessage},
	reasonBodyTooLarge:       {http.StatusRequestEntityTooLarge, typeInvalidMessage},
	reasonBodyTimeout:        {http.StatusRequestTimeout, typeInvalidMessage},
	reasonBodyUnreadable:     {http.StatusBadRequest, typeInvalidMessage},
	reasonBodyNotJSON:        {http.StatusBadRequest, typeInvalidMessage},
	reasonSchema:             {http.StatusBadRequest, typeInvalidMessage},
	reasonNoKeys:             {http.StatusServiceUnavailable, typeUnexpected},
	reasonUpstreamDown:       {http.StatusBadGateway, typeUnexpected},
	reasonUpstreamTimeout:    {http.StatusGatewayTimeout, typeUnexpected},
	reasonInternal:           {http.StatusInternalServerError, typeUnexpected},
	reasonUpgrade:            {http.StatusBadRequest, typeInvalidMessage},
	reasonMethodOverride:     {http.StatusBadRequest, typeInvalidMessage},
	reasonEarlyData:          {http.StatusTooEarly, typeInvalidMessage},
	reasonBodyLength:         {http.StatusBadRequest, typeInvalidMessage},
	reasonRateLimited:        {http.StatusTooManyRequests, typeUnexpected},
	reasonRateLimitStoreDown: {http.StatusServiceUnavailable, typeUnexpected},
	// A later handler's status is kept; this is only its fallback.
	reasonHandlerError: {http.StatusInternalServerError, typeUnexpected},
}

// rejection is a refused request: why, for the log and metrics, and what the
// client is told. Detail never holds a token, a key or a body value.
type rejection struct {
	reason reason
	verdict
	detail string
	fields map[string][]string // Extensions.Request
	// bodyRead is set once the whole body was read, so the connection can
	// stay open; any other refusal stops reading the body (stopReadingBody).
	bodyRead bool
	// retryAfter, when set, is sent as Retry-After (rate limits, a later
	// handler's answer).
	retryAfter time.Duration
}

func reject(r reason, format string, args ...any) *rejection {
	return &rejection{reason: r, verdict: verdicts[r], detail: fmt.Sprintf(format, args...)}
}

// maxEchoed bounds a client-supplied name (kid, alg, a header member) quoted
// in a Detail or a log line: the token may be 8 KiB of anything.
const maxEchoed = 64

func clip(s string) string {
	if len(s) <= maxEchoed {
		return s
	}
	return strings.ToValidUTF8(s[:maxEchoed], "") + "..."
}

func (r *rejection) Error() string { return string(r.reason) + ": " + r.detail }

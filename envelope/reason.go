// Package envelope holds the provider's error envelope, the one place it is
// written, and the stable reason codes with the status and Type each answers
// with: the verdict table of SPEC section 3.
package envelope

import "net/http"

// Reason is a stable code for why a request was refused. Codes appear in
// logs, metrics and the {http.checkout_gateway.reason} placeholder, so they
// never change meaning once published.
type Reason string

const (
	ReasonPathNotCanonical   Reason = "path_not_canonical"
	ReasonQueryMalformed     Reason = "query_malformed"
	ReasonHopByHopHeader     Reason = "hop_by_hop_header"
	ReasonTrailers           Reason = "trailers"
	ReasonMethodNotAllowed   Reason = "method_not_allowed"
	ReasonTokenMissing       Reason = "token_missing"
	ReasonTokenMalformed     Reason = "token_malformed"
	ReasonTokenHeader        Reason = "token_header"
	ReasonAlgNotAllowed      Reason = "alg_not_allowed"
	ReasonKidUnknown         Reason = "kid_unknown"
	ReasonAPIKey             Reason = "api_key"
	ReasonAPIKeyMismatch     Reason = "api_key_mismatch"
	ReasonNoKeyVerified      Reason = "no_key_verified"
	ReasonSignatureInvalid   Reason = "signature_invalid"
	ReasonReplayed           Reason = "replayed"
	ReasonReplayStoreFull    Reason = "replay_store_full"
	ReasonReplayStoreDown    Reason = "replay_store_unavailable"
	ReasonClaimMissing       Reason = "claim_missing"
	ReasonClaimType          Reason = "claim_type"
	ReasonAudience           Reason = "audience"
	ReasonTokenExpired       Reason = "token_expired"
	ReasonTokenNotYetValid   Reason = "token_not_yet_valid"
	ReasonTokenLifetime      Reason = "token_lifetime"
	ReasonMethodMismatch     Reason = "method_mismatch"
	ReasonPathMismatch       Reason = "path_mismatch"
	ReasonQueryMismatch      Reason = "query_mismatch"
	ReasonBodyHashMismatch   Reason = "body_hash_mismatch"
	ReasonMediaType          Reason = "media_type"
	ReasonContentEncoding    Reason = "content_encoding"
	ReasonBodyTooLarge       Reason = "body_too_large"
	ReasonBodyTimeout        Reason = "body_timeout"
	ReasonBodyUnreadable     Reason = "body_unreadable"
	ReasonBodyNotJSON        Reason = "body_not_json"
	ReasonSchema             Reason = "schema"
	ReasonNoKeys             Reason = "no_keys_loaded"
	ReasonUpstreamDown       Reason = "upstream_unreachable"
	ReasonUpstreamTimeout    Reason = "upstream_timeout"
	ReasonUpstreamError      Reason = "upstream_error"
	ReasonInternal           Reason = "internal_error"
	ReasonUpgrade            Reason = "upgrade"
	ReasonMethodOverride     Reason = "method_override"
	ReasonEarlyData          Reason = "early_data"
	ReasonBodyLength         Reason = "body_length_mismatch"
	ReasonRateLimited        Reason = "rate_limited"
	ReasonRateLimitStoreDown Reason = "rate_limit_store_unavailable"
	ReasonHandlerError       Reason = "handler_error"
	// openapi mode (issue #14)
	ReasonOperationNotFound Reason = "operation_not_found"
	ReasonParameterInvalid  Reason = "parameter_invalid"
	ReasonBodyRequired      Reason = "body_required"
	ReasonBodyNotAllowed    Reason = "body_not_allowed"
	ReasonReplayNotDurable  Reason = "replay_not_durable"
	// validate_responses enforce (issue #14)
	ReasonResponseInvalid Reason = "response_invalid"
)

// Envelope Types, as the provider documents them.
const (
	TypeInvalidMessage   = "InvalidMessage"
	TypeUnexpected       = "Unexpected"
	TypeResourceNotFound = "ResourceNotFound"
	TypeUnauthorized     = "Unauthorized"
	TypeForbidden        = "Forbidden"
	TypeInsufficient     = "InsufficientBalance"
)

// Verdict is what a reason answers with.
type Verdict struct {
	Status int
	Type   string
}

var verdicts = map[Reason]Verdict{
	ReasonPathNotCanonical: {http.StatusBadRequest, TypeInvalidMessage},
	ReasonQueryMalformed:   {http.StatusBadRequest, TypeInvalidMessage},
	ReasonHopByHopHeader:   {http.StatusBadRequest, TypeInvalidMessage},
	ReasonTrailers:         {http.StatusBadRequest, TypeInvalidMessage},
	ReasonMethodNotAllowed: {http.StatusMethodNotAllowed, TypeInvalidMessage},
	ReasonTokenMissing:     {http.StatusUnauthorized, TypeUnauthorized},
	ReasonTokenMalformed:   {http.StatusUnauthorized, TypeUnauthorized},
	ReasonTokenHeader:      {http.StatusUnauthorized, TypeUnauthorized},
	ReasonAlgNotAllowed:    {http.StatusUnauthorized, TypeUnauthorized},
	ReasonKidUnknown:       {http.StatusUnauthorized, TypeUnauthorized},
	ReasonAPIKey:           {http.StatusUnauthorized, TypeUnauthorized},
	ReasonAPIKeyMismatch:   {http.StatusUnauthorized, TypeUnauthorized},
	ReasonNoKeyVerified:    {http.StatusUnauthorized, TypeUnauthorized},
	ReasonSignatureInvalid: {http.StatusUnauthorized, TypeUnauthorized},
	ReasonReplayed:         {http.StatusUnauthorized, TypeUnauthorized},
	ReasonReplayStoreFull:  {http.StatusServiceUnavailable, TypeUnexpected},
	ReasonReplayStoreDown:  {http.StatusServiceUnavailable, TypeUnexpected},
	ReasonClaimMissing:     {http.StatusUnauthorized, TypeUnauthorized},
	ReasonClaimType:        {http.StatusUnauthorized, TypeUnauthorized},
	ReasonAudience:         {http.StatusUnauthorized, TypeUnauthorized},
	ReasonTokenExpired:     {http.StatusUnauthorized, TypeUnauthorized},
	ReasonTokenNotYetValid: {http.StatusUnauthorized, TypeUnauthorized},
	ReasonTokenLifetime:    {http.StatusUnauthorized, TypeUnauthorized},
	ReasonMethodMismatch:   {http.StatusUnauthorized, TypeUnauthorized},
	ReasonPathMismatch:     {http.StatusUnauthorized, TypeUnauthorized},
	ReasonQueryMismatch:    {http.StatusUnauthorized, TypeUnauthorized},
	ReasonBodyHashMismatch: {http.StatusUnauthorized, TypeUnauthorized},
	ReasonMediaType:        {http.StatusUnsupportedMediaType, TypeInvalidMessage},
	ReasonContentEncoding:  {http.StatusUnsupportedMediaType, TypeInvalidMessage},
	ReasonBodyTooLarge:     {http.StatusRequestEntityTooLarge, TypeInvalidMessage},
	ReasonBodyTimeout:      {http.StatusRequestTimeout, TypeInvalidMessage},
	ReasonBodyUnreadable:   {http.StatusBadRequest, TypeInvalidMessage},
	ReasonBodyNotJSON:      {http.StatusBadRequest, TypeInvalidMessage},
	ReasonSchema:           {http.StatusBadRequest, TypeInvalidMessage},
	ReasonNoKeys:           {http.StatusServiceUnavailable, TypeUnexpected},
	ReasonUpstreamDown:     {http.StatusBadGateway, TypeUnexpected},
	ReasonUpstreamTimeout:  {http.StatusGatewayTimeout, TypeUnexpected},
	// An upstream error answer keeps its own status (Rejection.Verdict is
	// set from it); this is for an answer that cannot be relayed at all.
	ReasonUpstreamError:      {http.StatusBadGateway, TypeUnexpected},
	ReasonInternal:           {http.StatusInternalServerError, TypeUnexpected},
	ReasonUpgrade:            {http.StatusBadRequest, TypeInvalidMessage},
	ReasonMethodOverride:     {http.StatusBadRequest, TypeInvalidMessage},
	ReasonEarlyData:          {http.StatusTooEarly, TypeInvalidMessage},
	ReasonBodyLength:         {http.StatusBadRequest, TypeInvalidMessage},
	ReasonRateLimited:        {http.StatusTooManyRequests, TypeUnexpected},
	ReasonRateLimitStoreDown: {http.StatusServiceUnavailable, TypeUnexpected},
	// A later handler\'s status is kept; this is only its fallback.
	ReasonHandlerError: {http.StatusInternalServerError, TypeUnexpected},
	// openapi mode (issue #14)
	ReasonOperationNotFound: {http.StatusNotFound, TypeResourceNotFound},
	ReasonParameterInvalid:  {http.StatusBadRequest, TypeInvalidMessage},
	ReasonBodyRequired:      {http.StatusBadRequest, TypeInvalidMessage},
	ReasonBodyNotAllowed:    {http.StatusBadRequest, TypeInvalidMessage},
	// The signature was marked used but too few replicas confirmed it.
	ReasonReplayNotDurable: {http.StatusServiceUnavailable, TypeUnexpected},
	// validate_responses enforce (issue #14)
	ReasonResponseInvalid: {http.StatusBadGateway, TypeUnexpected},
}

// VerdictOf is the status and Type that r answers with.
func VerdictOf(r Reason) Verdict { return verdicts[r] }

package caddymodule

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
)

// laterHandlerRefusal answers, in the envelope, a client error that a
// handler after the gateway returned (another module's 403 or 429, Caddy's
// `error` directive): its status and its Retry-After are kept, as the client
// must see them to behave; every other header it set is dropped, as for an
// upstream error.
func laterHandlerRefusal(uw *upstreamWriter, status int) *envelope.Rejection {
	retryAfter := parseRetryAfter(uw.Header().Get("Retry-After"), time.Now())
	uw.clearUpstreamHeaders()
	return &envelope.Rejection{
		Reason:     envelope.ReasonHandlerError,
		Verdict:    envelope.Verdict{Status: status, Type: envelope.NormalisedType(status)},
		Detail:     fmt.Sprintf("the request was refused with %d %s", status, http.StatusText(status)),
		RetryAfter: retryAfter,
	}
}

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP date; zero
// when absent, malformed or past.
func parseRetryAfter(value string, now time.Time) time.Duration {
	if value == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(value, 10, 31); err == nil {
		return time.Duration(secs) * time.Second
	}
	if when, err := http.ParseTime(value); err == nil && when.After(now) {
		return when.Sub(now)
	}
	return 0
}

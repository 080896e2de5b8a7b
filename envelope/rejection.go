package envelope

import (
	"fmt"
	"strings"
	"time"
)

// Rejection is a refused request: why, for the log and metrics, and what the
// client is told. Detail never holds a token, a key or a body value.
type Rejection struct {
	Reason Reason
	Verdict
	Detail string
	Fields map[string][]string // Extensions.Request
	// RetryAfter, when set, is sent as Retry-After (rate limits, a later
	// handler's answer).
	RetryAfter time.Duration
	// Cause is why a dependency failed (a store down), for the operator's
	// log line; it is never sent to the client.
	Cause error
	// Allow is the Allow header of a 405 when it is not the handler's
	// configured methods (an OpenAPI path's own methods).
	Allow string
}

// Reject is a rejection for reason r with the verdict the table gives it.
func Reject(r Reason, format string, args ...any) *Rejection {
	return &Rejection{Reason: r, Verdict: verdicts[r], Detail: fmt.Sprintf(format, args...)}
}

func (r *Rejection) Error() string { return string(r.Reason) + ": " + r.Detail }

// maxEchoed bounds a client-supplied name (kid, alg, a header member) quoted
// in a Detail or a log line: the token may be 8 KiB of anything.
const maxEchoed = 64

// Clip bounds a client-supplied string for a Detail or a log line.
func Clip(s string) string {
	if len(s) <= maxEchoed {
		return s
	}
	return strings.ToValidUTF8(s[:maxEchoed], "") + "..."
}

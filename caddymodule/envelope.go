package caddymodule

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// envelope is the provider's documented error body.
type envelope struct {
	Type       string      `json:"Type"`
	Instance   string      `json:"Instance"`
	Action     string      `json:"Action"`
	Detail     string      `json:"Detail"`
	Extensions *extensions `json:"Extensions,omitempty"`
}

type extensions struct {
	Request map[string][]string `json:"Request,omitempty"`
}

// retryAfterSeconds is what a client is told to wait when the gateway
// cannot judge requests yet (no signing keys loaded).
const retryAfterSeconds = 5

// writeEnvelope is the one place an error envelope is written. retryAfter,
// when set, is sent in whole seconds, rounded up.
func writeEnvelope(w http.ResponseWriter, status int, env envelope, allow string, retryAfter time.Duration) {
	body, err := json.Marshal(env)
	if err != nil {
		// Every field is a string or a map of strings: this cannot fail.
		panic(err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if status == http.StatusMethodNotAllowed {
		h.Set("Allow", allow)
	}
	switch {
	case retryAfter > 0:
		h.Set("Retry-After", strconv.FormatInt(int64((retryAfter+time.Second-1)/time.Second), 10))
	case status == http.StatusServiceUnavailable:
		h.Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

package envelope

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Envelope is the provider's documented error body.
type Envelope struct {
	Type             string            `json:"Type"`
	Instance         string            `json:"Instance"`
	Action           string            `json:"Action"`
	Detail           string            `json:"Detail"`
	Extensions       *Extensions       `json:"Extensions,omitempty"`
	RequestExtension *RequestExtension `json:"RequestExtension,omitempty"`
}

// Extensions holds the details of invalid request properties.
type Extensions struct {
	Request map[string][]string `json:"Request,omitempty"`
}

// RequestExtension lists field errors as the provider's current document
// defines them, beside Extensions.Request, which the endpoint's page
// documents and clients already read.
type RequestExtension struct {
	Body []FieldError `json:"Body"`
}

// FieldError is one invalid field of a request.
type FieldError struct {
	Field       string `json:"Field"`
	Reason      string `json:"Reason"`
	Description string `json:"Description"`
}

// reasonSchemaValidation is the provider's Reason for a field that breaks
// the request's schema.
const reasonSchemaValidation = "SchemaValidation"

// SetFieldErrors reports invalid properties, each with its reasons, in both
// places the provider documents: Extensions.Request and
// RequestExtension.Body (one entry a property, its reasons joined, in a
// stable order).
func (e *Envelope) SetFieldErrors(fields map[string][]string) {
	if len(fields) == 0 {
		return
	}
	e.Extensions = &Extensions{Request: fields}
	body := make([]FieldError, 0, len(fields))
	for _, field := range slices.Sorted(maps.Keys(fields)) {
		body = append(body, FieldError{Field: field, Reason: reasonSchemaValidation, Description: strings.Join(fields[field], "; ")})
	}
	e.RequestExtension = &RequestExtension{Body: body}
}

// RetryAfterSeconds is what a client is told to wait when the gateway
// cannot judge requests yet (no signing keys loaded).
const RetryAfterSeconds = 5

// Write is the one place an error envelope is written. retryAfter, when
// set, is sent in whole seconds, rounded up.
func Write(w http.ResponseWriter, status int, env Envelope, allow string, retryAfter time.Duration) {
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
		h.Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Types are the Types the provider documents.
var Types = []string{TypeInvalidMessage, TypeUnexpected, TypeResourceNotFound, TypeUnauthorized, TypeForbidden, TypeInsufficient}

// NormalisedType maps an upstream error status to the envelope Type that
// SPEC section 4 gives it.
func NormalisedType(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusConflict,
		http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
		return TypeInvalidMessage
	case http.StatusUnauthorized:
		return TypeUnauthorized
	case http.StatusForbidden:
		return TypeForbidden
	case http.StatusNotFound:
		return TypeResourceNotFound
	}
	return TypeUnexpected
}

package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/jsonbody"
	"github.com/checkoutgw/checkoutgw/openapi"
)

// Values of validate_responses.
const (
	responsesLog     = "log"
	responsesEnforce = "enforce"
)

var responseModes = []string{responsesLog, responsesEnforce}

// maxCheckedAnswer bounds how much of a 2xx answer is held to be checked;
// a larger one is too large to check.
const maxCheckedAnswer = 1 << 20

// Values of the upstream_fault log field and of the fault label of
// response_mismatches_total.
const (
	faultResponseSchema   = "response_schema"
	faultResponseNotJSON  = "response_not_json"
	faultResponseTooLarge = "response_too_large"
)

// answerChecks are the compiled response schemas of an openapi handler
// with validate_responses on.
type answerChecks struct {
	mode       string
	schemas    map[*openapi.Response]*jsonbody.Schema
	mismatches *prometheus.CounterVec // operation, fault
}

// provisionAnswerChecks compiles every operation's JSON response schemas
// with the body engine, so that caddy validate names the operation and the
// pointer of one that does not compile.
func (g *Gateway) provisionAnswerChecks(ctx caddy.Context, doc *openapi.Document) (*answerChecks, error) {
	mode := g.OpenAPI.ValidateResponses
	switch mode {
	case "":
		return nil, nil
	case responsesLog, responsesEnforce:
	default:
		return nil, fmt.Errorf("openapi validate_responses: %q is not one of log, enforce", mode)
	}
	checks := &answerChecks{mode: mode, schemas: map[*openapi.Response]*jsonbody.Schema{}}
	for i, op := range doc.Operations {
		for _, resp := range op.Responses() {
			location := fmt.Sprintf("openapi:///operations/%d/responses/%s.json", i, resp.Key)
			schema, err := jsonbody.Compile(map[string][]byte{location: resp.Schema}, location, g.now)
			if err != nil {
				return nil, fmt.Errorf("openapi %s: operation %s (%s): %w", g.OpenAPI.File, op.Action, resp.Pointer, err)
			}
			checks.schemas[resp] = schema
		}
	}
	var err error
	if checks.mismatches, err = registerOrExisting(ctx.GetMetricsRegistry(), prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "response_mismatches_total",
		Help: "Upstream 2xx answers that did not match the operation's response schema, by operation and fault.",
	}, []string{"operation", "fault"})); err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	return checks, nil
}

// watchAnswer tells the upstream writer which 2xx answers to hold for a
// check: those the routed operation declares a JSON schema for. Others,
// and every answer when validate_responses is off, stream as they come.
func (g *Gateway) watchAnswer(uw *upstreamWriter, r *http.Request) {
	rt := g.routeOf(r)
	if rt == nil || g.api.answers == nil || r.Method == http.MethodHead {
		return
	}
	uw.checksSuccess = func(status int) bool { return rt.op.ResponseFor(status) != nil }
	uw.streamsOversized = g.api.answers.mode == responsesLog
}

// settleAnswer checks a held 2xx answer: it passes on unchanged when it
// matches; a mismatch is logged by property path and reason, never a
// value, counted, and under enforce replaced by a 502 envelope.
func (g *Gateway) settleAnswer(w http.ResponseWriter, uw *upstreamWriter, r *http.Request) {
	op := g.routeOf(r).op
	fault, fields := g.judgeAnswer(uw, op)
	if fault == "" {
		uw.releaseHeld()
		g.metrics.countAccepted()
		return
	}
	g.reportAnswer(w, uw, r, op, fault, append(uw.heldFields(fault), fields...))
}

// judgeAnswer is the fault of a held answer, or "" when it matches, and
// the log fields that say where it failed.
func (g *Gateway) judgeAnswer(uw *upstreamWriter, op *openapi.Operation) (string, []zap.Field) {
	if uw.overflow {
		return faultResponseTooLarge, []zap.Field{zap.Int("limit", maxCheckedAnswer)}
	}
	if len(uw.contentType) != 1 || !isJSONUTF8(uw.contentType[0]) {
		return faultResponseNotJSON, []zap.Field{zap.String("response_error", "the answer is not application/json")}
	}
	schema := g.api.answers.schemas[op.ResponseFor(uw.status)]
	mismatches, err := schema.Mismatches(uw.held.Bytes())
	switch {
	case err != nil:
		return faultResponseNotJSON, []zap.Field{zap.String("response_error", err.Error())}
	case mismatches != nil:
		return faultResponseSchema, []zap.Field{zap.Any("mismatches", mismatches)}
	}
	return "", nil
}

// answerStreamedUnchecked records a 2xx answer that validate_responses log
// let through unchecked because it outgrew the bound while held.
func (g *Gateway) answerStreamedUnchecked(uw *upstreamWriter, r *http.Request) {
	op := g.routeOf(r).op
	g.api.answers.mismatches.WithLabelValues(op.Action, faultResponseTooLarge).Inc()
	g.logger.Warn("upstream answer too large to check against its response schema; passed on",
		append([]zap.Field{
			zap.String("instance", requestID(r)),
			zap.String("upstream_fault", faultResponseTooLarge),
			zap.Int("upstream_status", uw.status),
			zap.Int("limit", maxCheckedAnswer),
		}, g.operationFields(r)...)...)
}

// reportAnswer counts and logs a mismatched answer, then passes it on
// (log) or replaces it with a 502 envelope (enforce).
func (g *Gateway) reportAnswer(w http.ResponseWriter, uw *upstreamWriter, r *http.Request, op *openapi.Operation, fault string, fields []zap.Field) {
	g.api.answers.mismatches.WithLabelValues(op.Action, fault).Inc()
	if g.api.answers.mode == responsesLog {
		g.logger.Warn("upstream answer does not match its response schema; passed on",
			append(append([]zap.Field{zap.String("instance", requestID(r))}, g.operationFields(r)...), fields...)...)
		uw.releaseHeld()
		g.metrics.countAccepted()
		return
	}
	uw.clearUpstreamHeaders()
	g.refuse(w, r, envelope.Reject(envelope.ReasonResponseInvalid, "the checkout service's answer to %s did not match its documented response; quote the Instance to the operator", op.Action), nil, fields...)
}

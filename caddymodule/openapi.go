package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/jsonbody"
	"github.com/checkoutgw/checkoutgw/openapi"
	"github.com/checkoutgw/checkoutgw/strictjson"
)

// OpenAPI guards every operation of an OpenAPI document instead of one
// endpoint with one schema: each request is routed to its operation by
// method and path, its parameters and body are checked against the
// operation's, and every refusal names the operation as its Action.
type OpenAPI struct {
	// Path of the OpenAPI 3.0.x or 3.1.x document, JSON or YAML. Only
	// references inside the document are followed.
	File string `json:"file,omitempty"`

	// The path prefix the document's paths are served under, as the client
	// sends it. Default: the path of the document's first `servers[].url`.
	BasePath string `json:"base_path,omitempty"`

	// Check the upstream's 2xx JSON answers against the operation's
	// response schema: "log" logs and counts a mismatch and passes the
	// answer on, "enforce" also replaces it with a 502 envelope. Default:
	// off, and answers stream unheld.
	ValidateResponses string `json:"validate_responses,omitempty"`
}

// openAPIGuard is a loaded document and its compiled body schemas.
type openAPIGuard struct {
	doc      *openapi.Document
	bodies   []*jsonbody.Schema     // by operation index; nil without a body schema
	answers  *answerChecks          // nil when validate_responses is off
	verdicts *prometheus.CounterVec // operation, verdict
}

// routed is the operation a request was routed to, kept in the request's
// vars for the checks that follow and for the refusal.
type routed struct {
	api      *openAPIGuard // whose document; another gateway in the chain may have routed
	op       *openapi.Operation
	segments []string
}

const (
	operationVar         = "checkout_gateway.operation"
	placeholderOperation = "http.checkout_gateway.operation"
)

// provisionOpenAPI loads the document and compiles every operation's body
// schema with the body engine, so that caddy validate reports a schema that
// does not compile, naming the operation. It runs before the defaults are
// applied, while an operator's own schema and methods can still be told
// from the defaults.
func (g *Gateway) provisionOpenAPI(ctx caddy.Context) error {
	if g.OpenAPI == nil {
		return nil
	}
	switch {
	case g.Schema != "":
		return errors.New("openapi and schema cannot be used together: the document gives each operation its body schema")
	case len(g.Methods) > 0:
		return errors.New("openapi and methods cannot be used together: the document gives each path its methods")
	case g.OpenAPI.File == "":
		return errors.New("openapi: the document's file is required")
	}
	data, err := os.ReadFile(g.OpenAPI.File)
	if err != nil {
		return fmt.Errorf("openapi: %w", err)
	}
	doc, err := openapi.Load(data, g.OpenAPI.BasePath)
	if err != nil {
		return fmt.Errorf("openapi %s: %w", g.OpenAPI.File, err)
	}
	api := &openAPIGuard{doc: doc, bodies: make([]*jsonbody.Schema, len(doc.Operations))}
	for i, op := range doc.Operations {
		if op.Body == nil || op.Body.Schema == nil {
			continue
		}
		location := fmt.Sprintf("openapi:///operations/%d.json", i)
		if api.bodies[i], err = jsonbody.Compile(map[string][]byte{location: op.Body.Schema}, location, g.now); err != nil {
			return fmt.Errorf("openapi %s: operation %s (%s): %w", g.OpenAPI.File, op.Action, op.Body.Pointer, err)
		}
	}
	if api.answers, err = g.provisionAnswerChecks(ctx, doc); err != nil {
		return err
	}
	if api.verdicts, err = registerOrExisting(ctx.GetMetricsRegistry(), prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "operation_verdicts_total",
		Help: "Requests routed to an OpenAPI operation, by operation and verdict: accepted, or the reason code of the refusal.",
	}, []string{"operation", "verdict"})); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	g.api = api
	if g.Action == "" {
		g.Action = doc.Title
	}
	return nil
}

// checkRoute finds the request's operation; without a document it is the
// methods check. A path the document lacks is 404, a known path with
// another method 405 with that path's methods.
func (g *Gateway) checkRoute(r *http.Request, path string) *envelope.Rejection {
	if g.api == nil {
		return g.checkMethod(r)
	}
	op, segments, err := g.api.doc.Route(r.Method, path)
	var other *openapi.MethodNotAllowedError
	switch {
	case errors.As(err, &other):
		rej := envelope.Reject(envelope.ReasonMethodNotAllowed, "method %s is not allowed on this path; use %s", envelope.Clip(r.Method), other.Allow)
		rej.Allow = other.Allow
		return rej
	case err != nil:
		return envelope.Reject(envelope.ReasonOperationNotFound, "there is no operation at this path")
	}
	caddyhttp.SetVar(r.Context(), operationVar, &routed{api: g.api, op: op, segments: segments})
	setPlaceholder(r, placeholderOperation, op.Action)
	return nil
}

// routeOf is the operation this gateway routed the request to, if any.
func (g *Gateway) routeOf(r *http.Request) *routed {
	if g.api == nil {
		return nil
	}
	rt, _ := caddyhttp.GetVar(r.Context(), operationVar).(*routed)
	if rt == nil || rt.api != g.api {
		return nil
	}
	return rt
}

// checkParameters checks the operation's path, query and header
// parameters, reporting every violation at once.
func (g *Gateway) checkParameters(r *http.Request, query url.Values) *envelope.Rejection {
	rt := g.routeOf(r)
	if rt == nil {
		return nil
	}
	fields := rt.op.CheckParameters(rt.segments, query, r.Header)
	if len(fields) == 0 {
		return nil
	}
	rej := envelope.Reject(envelope.ReasonParameterInvalid, "the request has %d invalid %s", len(fields), plural(len(fields), "parameter", "parameters"))
	rej.Fields = fields
	return rej
}

// checkOperationMediaType applies the media type rule to operations that
// take a body; one without a body needs no Content-Type and gets none.
func (g *Gateway) checkOperationMediaType(r *http.Request) *envelope.Rejection {
	rt := g.routeOf(r)
	if rt == nil {
		return checkMediaType(r)
	}
	body := rt.op.Body
	switch {
	case body == nil && r.ContentLength > 0:
		return envelope.Reject(envelope.ReasonBodyNotAllowed, "operation %s takes no request body", rt.op.Action)
	case body == nil:
		// A body of unknown length is read and must turn out empty.
		return nil
	case r.ContentLength == 0 && body.Required:
		return envelope.Reject(envelope.ReasonBodyRequired, "operation %s requires a JSON request body", rt.op.Action)
	case r.ContentLength == 0 && len(r.Header.Values("Content-Type")) == 0:
		return nil
	}
	return checkMediaType(r)
}

// checkOperationBody checks a routed request's body with its operation's
// schema, through the same strict parser and compiled schema as the schema
// mode. It reports whether the request was routed, and so handled here.
func (g *Gateway) checkOperationBody(r *http.Request, body []byte) (bool, *envelope.Rejection) {
	rt := g.routeOf(r)
	if rt == nil {
		return false, nil
	}
	op := rt.op
	switch {
	case len(body) == 0 && op.Body != nil && op.Body.Required:
		return true, envelope.Reject(envelope.ReasonBodyRequired, "operation %s requires a JSON request body", op.Action)
	case len(body) == 0:
		return true, nil
	case op.Body == nil:
		return true, envelope.Reject(envelope.ReasonBodyNotAllowed, "operation %s takes no request body", op.Action)
	}
	if schema := g.api.bodies[op.Index]; schema != nil {
		return true, schema.Check(body)
	}
	if _, err := strictjson.Parse(body, nil); err != nil {
		return true, envelope.Reject(envelope.ReasonBodyNotJSON, "the request body is not strict JSON: %s", err)
	}
	return true, nil
}

// actionOf is the envelope's Action: the routed operation's, or the
// configured one.
func (g *Gateway) actionOf(r *http.Request) string {
	if rt := g.routeOf(r); rt != nil {
		return rt.op.Action
	}
	return g.Action
}

// countOperation counts the gateway's verdict on a routed request; the
// operation label is the document's operationId or template, a fixed set.
func (g *Gateway) countOperation(r *http.Request, verdict string) {
	if rt := g.routeOf(r); rt != nil {
		g.api.verdicts.WithLabelValues(rt.op.Action, verdict).Inc()
	}
}

// operationFields name the routed operation in a log line: its
// operationId or template, never the path as sent.
func (g *Gateway) operationFields(r *http.Request) []zap.Field {
	if rt := g.routeOf(r); rt != nil {
		return []zap.Field{zap.String("operation", rt.op.Action)}
	}
	return nil
}

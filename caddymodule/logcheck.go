package caddymodule

import (
	"net/http"
	"slices"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// warnIfLogsRecordSecrets says, once at provision, which secret request
// headers Caddy's own log lines (access log, server errors, reverse_proxy's
// warnings and debug lines) would record, because no log filter deletes
// them. Those lines are written outside any handler's reach, so a log filter
// is the only protection; this makes a missing one visible.
//
// It asks the logs of the HTTP app (every log that can receive its access,
// error or handler lines) to take a request's headers as those lines carry
// them, and notes which header values an encoder asked for. An encoder that
// deletes or replaces a field never asks; one that writes it, or transforms
// it (hash, regexp), does, and is reported.
func (g *Gateway) warnIfLogsRecordSecrets(ctx caddy.Context) {
	app, err := ctx.AppIfConfigured("http")
	if err != nil {
		return // not provisioned by an HTTP server: no Caddy log lines to check
	}
	httpApp, ok := app.(caddy.Module)
	if !ok {
		return
	}
	secrets := []string{http.CanonicalHeaderKey(g.SignatureHeader), "X-Api-Key"}
	recorded := headersRecordedBy(ctx.Logger(httpApp).Core(), slices.Compact(secrets))
	if len(recorded) == 0 {
		return
	}
	g.logger.Warn("Caddy's logs would record secret request headers; delete them with a log filter",
		zap.Strings("headers", recorded),
		zap.String("filter", "format filter { request>headers><header> delete } in the default log and every access log"))
}

// headersRecordedBy returns the names among headers whose values core's
// encoders would write for a request logged as Caddy logs one
// ("request">"headers">name).
func headersRecordedBy(core zapcore.Core, headers []string) []string {
	probe := &headerProbe{names: headers, asked: make(map[string]bool)}
	core.With([]zapcore.Field{zap.Object("request", requestProbe{probe})})
	var recorded []string
	for _, name := range headers {
		if probe.asked[name] {
			recorded = append(recorded, name)
		}
	}
	return recorded
}

// requestProbe stands for a logged request: its headers, nested as
// caddyhttp.LoggableHTTPRequest nests them.
type requestProbe struct{ headers *headerProbe }

func (r requestProbe) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	return enc.AddObject("headers", r.headers)
}

// headerProbe adds each named header as an array, as
// caddyhttp.LoggableHTTPHeader does, and records which ones an encoder
// asked for the values of.
type headerProbe struct {
	names []string
	asked map[string]bool
}

func (h *headerProbe) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	for _, name := range h.names {
		if err := enc.AddArray(name, headerValueProbe{name: name, probe: h}); err != nil {
			return err
		}
	}
	return nil
}

type headerValueProbe struct {
	name  string
	probe *headerProbe
}

func (v headerValueProbe) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	v.probe.asked[v.name] = true
	enc.AppendString("probe")
	return nil
}

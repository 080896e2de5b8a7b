package caddymodule

import (
	"errors"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/checkoutgw/checkoutgw/keyring"
)

const metricsNamespace = "caddy_checkout_gateway"

// Request outcomes, the `outcome` label.
const (
	outcomeAccepted      = "accepted"
	outcomeRefused       = "refused"
	outcomeUpstreamError = "upstream_error"
	outcomeReported      = "reported" // a would-be refusal, forwarded under report_only
)

// gatewayMetrics are the gateway's Prometheus collectors, registered in the
// config's own registry (served on the admin /metrics endpoint). Every label
// takes values from a small fixed set: never a kid, a key or a client.
type gatewayMetrics struct {
	handler            string                 // this handler's label: its action
	requests           *prometheus.CounterVec // handler, outcome, reason
	accepted           prometheus.Counter     // requests' child for this handler's accepted requests
	verification       prometheus.Histogram   // seconds per signature verification
	upstreamNormalised *prometheus.CounterVec // class: 4xx, 5xx
	keyRefreshes       *prometheus.CounterVec // result: ok, error
	keysLoaded         *prometheus.GaugeVec   // source: file, url; handler
	lastRefresh        *prometheus.GaugeVec   // source: file, url, api_keys
	refreshFailures    *prometheus.CounterVec // source: file, url, api_keys; cause
}

// newGatewayMetrics registers the collectors, or reuses those that another
// gateway handler in the same config already registered, so that several
// handlers and config reloads neither panic nor double count.
func newGatewayMetrics(registry prometheus.Registerer, handler string) (*gatewayMetrics, error) {
	m := &gatewayMetrics{handler: handler}
	var err error
	if m.requests, err = registerOrExisting(registry, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "requests_total",
		Help: "Requests judged by the checkout gateway, by handler (its action), outcome and reason code.",
	}, []string{"handler", "outcome", "reason"})); err != nil {
		return nil, err
	}
	// Resolved once: finding a child by its labels hashes them under a
	// lock, on every accepted request.
	m.accepted = m.requests.WithLabelValues(handler, outcomeAccepted, "")
	if m.verification, err = registerOrExisting(registry, prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Name: "signature_verification_seconds",
		Help:    "Time spent verifying request signatures.",
		Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.05},
	})); err != nil {
		return nil, err
	}
	if m.upstreamNormalised, err = registerOrExisting(registry, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "upstream_errors_normalised_total",
		Help: "Upstream error answers that were not envelopes and were replaced by one, by status class.",
	}, []string{"class"})); err != nil {
		return nil, err
	}
	if m.keyRefreshes, err = registerOrExisting(registry, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "key_refreshes_total",
		Help: "Fetches of remote JWK sets, by result.",
	}, []string{"result"})); err != nil {
		return nil, err
	}
	if m.keysLoaded, err = registerOrExisting(registry, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "keys_loaded",
		Help: "Signing keys currently trusted, by kind of source and handler (its action).",
	}, []string{"source", "handler"})); err != nil {
		return nil, err
	}
	if m.lastRefresh, err = registerOrExisting(registry, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "key_last_refresh_success_timestamp_seconds",
		Help: "Unix time of the last good load of a key source, by kind of source, for staleness alerts.",
	}, []string{"source"})); err != nil {
		return nil, err
	}
	if m.refreshFailures, err = registerOrExisting(registry, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "key_refresh_failures_total",
		Help: "Refreshes of key sources refused, the last good keys kept, by kind of source and cause.",
	}, []string{"source", "cause"})); err != nil {
		return nil, err
	}
	return m, nil
}

func registerOrExisting[C prometheus.Collector](registry prometheus.Registerer, c C) (C, error) {
	err := registry.Register(c)
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

func (m *gatewayMetrics) countAccepted() {
	if m == nil {
		return
	}
	m.accepted.Inc()
}

func (m *gatewayMetrics) countRequest(outcome string, r envelope.Reason) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(m.handler, outcome, string(r)).Inc()
}

func (m *gatewayMetrics) observeVerification(d time.Duration) {
	if m == nil {
		return
	}
	m.verification.Observe(d.Seconds())
}

func (m *gatewayMetrics) countNormalised(status int) {
	if m == nil {
		return
	}
	class := "5xx"
	if status < 500 {
		class = "4xx"
	}
	m.upstreamNormalised.WithLabelValues(class).Inc()
}

// keyMetrics is the handler's view of the metrics for its key ring, with
// the handler label filled in.
func (g *Gateway) keyMetrics() keyring.Metrics {
	return &keyMetrics{m: g.metrics, handler: g.Action}
}

type keyMetrics struct {
	m       *gatewayMetrics
	handler string
}

// CountKeyRefresh implements keyring.Metrics.
func (k *keyMetrics) CountKeyRefresh(ok bool) {
	if k.m == nil {
		return
	}
	result := "ok"
	if !ok {
		result = "error"
	}
	k.m.keyRefreshes.WithLabelValues(result).Inc()
}

// SetKeysLoaded implements keyring.Metrics.
func (k *keyMetrics) SetKeysLoaded(source string, n int) {
	if k.m == nil {
		return
	}
	k.m.keysLoaded.WithLabelValues(source, k.handler).Set(float64(n))
}

// CountRefreshFailure implements keyring.Metrics.
func (k *keyMetrics) CountRefreshFailure(source, cause string) {
	if k.m == nil {
		return
	}
	k.m.refreshFailures.WithLabelValues(source, cause).Inc()
}

// SetLastRefresh implements keyring.Metrics.
func (k *keyMetrics) SetLastRefresh(source string, at time.Time) {
	if k.m == nil {
		return
	}
	k.m.lastRefresh.WithLabelValues(source).Set(float64(at.UnixNano()) / 1e9)
}

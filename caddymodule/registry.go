package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"
)

// gatewayRegistry holds the gateway handlers of every live config, for the
// control plane on the admin endpoint. A handler joins at the end of a
// good Provision and leaves at Cleanup, so that during a reload both the
// old and the new config are shown.
type gatewayRegistry struct{ pool *caddy.UsagePool }

var liveGateways = gatewayRegistry{pool: caddy.NewUsagePool()}

// registeredGateway is a pool entry; the gateway's own Cleanup releases
// what it holds, so there is nothing to destruct here.
type registeredGateway struct{ g *Gateway }

func (registeredGateway) Destruct() error { return nil }

func registryKey(g *Gateway) string { return fmt.Sprintf("%p", g) }

func (r gatewayRegistry) add(g *Gateway) {
	_, _ = r.pool.LoadOrStore(registryKey(g), registeredGateway{g: g})
}

// remove is safe for a gateway that never joined.
func (r gatewayRegistry) remove(g *Gateway) {
	_, _ = r.pool.Delete(registryKey(g))
}

// all lists the live gateways.
func (r gatewayRegistry) all() []*Gateway {
	var out []*Gateway
	r.pool.Range(func(_, value any) bool {
		out = append(out, value.(registeredGateway).g)
		return true
	})
	return out
}

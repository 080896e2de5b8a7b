// Package checkoutgw plugs the checkout gateway into Caddy. Importing it,
// or building with xcaddy --with github.com/checkoutgw/checkoutgw, registers
// the checkout_gateway handler, its Caddyfile directive and the
// `caddy checkout` commands. The code lives in package caddymodule.
package checkoutgw

import (
	_ "github.com/checkoutgw/checkoutgw/caddymodule"
)

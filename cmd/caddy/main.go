// Command caddy is Caddy with its standard modules and the checkout gateway.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/checkoutgw/checkoutgw/caddymodule"
)

func main() {
	caddycmd.Main()
}

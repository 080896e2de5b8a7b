// Command floorcaddy is Caddy with its standard modules and the
// verification floor: the baseline server of bench/load.sh, never a
// product. See floor.go.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() {
	caddycmd.Main()
}

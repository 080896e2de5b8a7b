// Package caddymodule is the checkout gateway: a Caddy HTTP handler that
// verifies Api-Signature request signatures and request bodies before they
// reach the checkout API.
package caddymodule

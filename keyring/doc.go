// Package keyring holds the gateway's trusted signature keys: JWK sets parsed
// into verification keys whose algorithm the key itself fixes, the ring
// that merges key files and remote key sets into one immutable view, and
// the remote sources that refresh themselves on an interval and, rate
// limited, for an unknown kid. It knows nothing of Caddy: the Caddy layer
// shares sources across config reloads and feeds them a logger and metrics.
package keyring

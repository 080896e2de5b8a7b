package caddymodule

import (
	"context"

	"github.com/checkoutgw/checkoutgw/keyring"
)

// watchKeyFiles applies changes to the jwks_file and api_keys files as
// they happen, with no reload: Caddy skips a reload whose config did not
// change, so an edited key file would otherwise go unnoticed.
func (g *Gateway) watchKeyFiles(ctx context.Context) {
	if len(g.watched) == 0 {
		return
	}
	g.watcher = keyring.WatchFiles(ctx, g.watched, g.keyFileChanged, g.logger)
	g.watched = nil
}

// keyFileChanged takes one watched file's new contents. A change that
// cannot be used is refused by the ring or the tenant file, which keep
// their last good state.
func (g *Gateway) keyFileChanged(path string, data []byte, err error) {
	if g.tenants != nil && path == g.APIKeys {
		_ = g.tenants.Reload(data, err)
		return
	}
	if err != nil {
		g.ring.ReadFailed(path, err)
		return
	}
	_ = g.ring.LoadFile(path, data)
}

// stopWatching ends the watcher; safe after a failed Provision.
func (g *Gateway) stopWatching() {
	if g.watcher != nil {
		g.watcher.Close()
		g.watcher = nil
	}
}

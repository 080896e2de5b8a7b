package caddymodule

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestReplayReplicas: a Cluster or Sentinel waits for one replica unless
// told otherwise; one node waits for none, as before.
func TestReplayReplicas(t *testing.T) {
	tests := []struct {
		name    string
		options string
		want    int
		err     string
	}{
		{name: "one node", options: "redis redis://127.0.0.1:6379/0", want: 0},
		{name: "cluster", options: "redis redis://127.0.0.1:7000?addr=127.0.0.1:7001", want: 1},
		{name: "sentinel", options: "redis redis://127.0.0.1:26379?master_name=m", want: 1},
		{name: "cluster without replicas", options: "redis redis://127.0.0.1:7000?addr=127.0.0.1:7001 replicas 0", want: 0},
		{name: "one node with replicas", options: "redis redis://127.0.0.1:6379/0 replicas 2", want: 2},
		{name: "negative", options: "redis redis://127.0.0.1:6379/0 replicas -1", err: "not a whole number"},
		{name: "not a number", options: "redis redis://127.0.0.1:6379/0 replicas one", err: "not a whole number"},
		{name: "memory store", options: "memory replicas 1", err: "unknown option"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var g Gateway
			err := g.UnmarshalCaddyfile(caddyfile.NewTestDispenser("checkout_gateway {\n jwks_file a.json\n replay_protection " + tc.options + "\n}"))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				}
				return
			}
			must(t, err)
			must(t, g.ReplayProtection.defaultReplicas())
			if got := *g.ReplayProtection.Replicas; got != tc.want {
				t.Fatalf("replicas = %d, want %d", got, tc.want)
			}
		})
	}
}

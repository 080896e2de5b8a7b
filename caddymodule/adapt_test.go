package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

var updateFixtures = flag.Bool("update", false, "rewrite the JSON half of the .caddyfiletest fixtures")

// TestAdaptFixtures adapts each testdata/*.caddyfiletest Caddyfile and
// compares the result with the JSON below its ---------- line.
func TestAdaptFixtures(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.caddyfiletest")
	must(t, err)
	if len(paths) == 0 {
		t.Fatal("no fixtures")
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			must(t, err)
			caddyfileText, wantJSON, found := strings.Cut(string(data), "----------\n")
			if !found {
				t.Fatal("no ---------- line")
			}
			got, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfileText), nil)
			must(t, err)
			for _, w := range warnings {
				t.Errorf("warning: %s", w.String())
			}
			var pretty bytes.Buffer
			must(t, json.Indent(&pretty, got, "", "\t"))
			pretty.WriteByte('\n')
			if *updateFixtures {
				must(t, os.WriteFile(path, []byte(caddyfileText+"----------\n"+pretty.String()), 0o644))
				return
			}
			if pretty.String() != wantJSON {
				t.Errorf("adapted JSON differs (run go test -run TestAdaptFixtures -update to see):\n%s", pretty.String())
			}
		})
	}
}

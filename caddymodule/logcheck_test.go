package caddymodule

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestStartWarnsOfUnfilteredSecretHeaders loads configurations whose logs
// do or do not filter the secret headers and reads the gateway's start-up
// warning, which must name exactly the headers left unfiltered.
func TestStartWarnsOfUnfilteredSecretHeaders(t *testing.T) {
	const warning = `"msg":"Caddy's logs would record secret request headers; delete them with a log filter"`
	filtered := documentedFilter("\t\t")
	cases := []struct {
		name          string
		defaultFormat string
		accessLog     string // the site's log directive, if any
		gateway       string // extra gateway options
		want          string // the warning's headers field, or "" for no warning
	}{
		{name: "documented filter", defaultFormat: filtered},
		{name: "default log unfiltered", defaultFormat: "\t\tformat json", want: `"headers":["Api-Signature","X-Api-Key"]`},
		{name: "access log unfiltered", defaultFormat: filtered, accessLog: "\tlog {\n\t\toutput file %s\n\t\tformat json\n\t}", want: `"headers":["Api-Signature","X-Api-Key"]`},
		{name: "access log filtered", defaultFormat: filtered, accessLog: "\tlog {\n\t\toutput file %s\n" + filtered + "\n\t}"},
		{name: "only the token filtered", defaultFormat: "\t\tformat filter {\n\t\t\trequest>headers>Api-Signature delete\n\t\t}", want: `"headers":["X-Api-Key"]`},
		{name: "custom signature header unfiltered", defaultFormat: filtered, gateway: "signature_header x-signature", want: `"headers":["X-Signature"]`},
		{name: "custom signature header filtered", defaultFormat: documentedFilter("\t\t", "request>headers>X-Signature delete"), gateway: "signature_header x-signature"},
		{name: "all request headers deleted", defaultFormat: "\t\tformat filter {\n\t\t\trequest>headers delete\n\t\t}"},
		{name: "replaced", defaultFormat: "\t\tformat filter {\n\t\t\trequest>headers>Api-Signature replace x\n\t\t\trequest>headers>X-Api-Key replace x\n\t\t}"},
		{name: "hashed: cannot be judged, so reported", defaultFormat: "\t\tformat filter {\n\t\t\trequest>headers>Api-Signature hash\n\t\t\trequest>headers>X-Api-Key delete\n\t\t}", want: `"headers":["Api-Signature"]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := newTestKey(t, "k1", "ES256")
			up := newUpstream(t, nil)
			defaultLog := canaryLogPath(t)
			accessLog := tc.accessLog
			if accessLog != "" {
				accessLog = fmt.Sprintf(accessLog, filepath.Join(t.TempDir(), "access.log"))
			}
			loadCaddyfile(t, fmt.Sprintf(`{
	admin off
	persist_config off
	auto_https off
	log default {
		output file %s
%s
	}
}

http://:%d {
	bind 127.0.0.1
%s
%s
}
`, defaultLog, tc.defaultFormat, freePort(t), accessLog, gatewaySite(up.hostPort(), "\t\t\tjwks_file "+writeJWKS(t, k)+"\n\t\t\t"+tc.gateway)))
			logs := (&gateway{logPath: defaultLog}).logs(t)
			var warnings []string
			for line := range strings.SplitSeq(logs, "\n") {
				if strings.Contains(line, warning) {
					warnings = append(warnings, line)
				}
			}
			switch {
			case tc.want == "" && len(warnings) > 0:
				t.Errorf("unexpected warning: %s", warnings[0])
			case tc.want != "" && (len(warnings) != 1 || !strings.Contains(warnings[0], tc.want) || !strings.Contains(warnings[0], `"level":"warn"`)):
				t.Errorf("want one warning with %s, got %q", tc.want, warnings)
			}
		})
	}
}

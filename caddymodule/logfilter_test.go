package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// documentedFilterFields are the field filters of the example Caddyfile's
// default log ("request>headers>Api-Signature delete", ...), read once by
// TestMain: the tests log through exactly what operators are told to use.
var documentedFilterFields []string

// readDocumentedFilterFields reads the field lines of the first
// "format filter { ... }" block inside "log default { ... }".
func readDocumentedFilterFields(caddyfilePath string) ([]string, error) {
	data, err := os.ReadFile(caddyfilePath)
	if err != nil {
		return nil, err
	}
	_, logBlock, ok := strings.Cut(string(data), "log default {")
	if !ok {
		return nil, fmt.Errorf("%s has no \"log default\" block", caddyfilePath)
	}
	_, filterBlock, ok := strings.Cut(logBlock, "format filter {")
	if !ok {
		return nil, fmt.Errorf("%s: its default log has no \"format filter\"", caddyfilePath)
	}
	filterBlock, _, _ = strings.Cut(filterBlock, "}")
	var fields []string
	for line := range strings.SplitSeq(filterBlock, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.Contains(line, "{"):
			return nil, errors.New("the documented filter has a nested block, which this reader does not follow")
		default:
			fields = append(fields, line)
		}
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("%s: the default log's filter is empty", caddyfilePath)
	}
	return fields, nil
}

// documentedFilter is the documented "format filter" block, indented by
// indent, wrapping JSON, with extra field lines (a custom signature_header)
// after the documented ones.
func documentedFilter(indent string, extraFields ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%sformat filter {\n%s\twrap json\n", indent, indent)
	for _, field := range append(append([]string(nil), documentedFilterFields...), extraFields...) {
		fmt.Fprintf(&b, "%s\t%s\n", indent, field)
	}
	fmt.Fprintf(&b, "%s}", indent)
	return b.String()
}

// TestReadmeConfigurationsFilterSecretHeaders adapts every Caddyfile
// configuration the README shows and checks that each log in it deletes the
// secret headers, as the example Caddyfile does.
func TestReadmeConfigurationsFilterSecretHeaders(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	must(t, err)
	blocks := regexp.MustCompile("(?s)```caddyfile\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	configurations := 0
	for i, block := range blocks {
		text := block[1]
		if strings.HasPrefix(text, "checkout_gateway [<matcher>]") {
			continue // the directive's syntax, not a configuration
		}
		configurations++
		t.Run(fmt.Sprintf("block %d", i+1), func(t *testing.T) {
			for _, gap := range secretHeaderFilterGaps(t, text) {
				t.Errorf("%s\n%s", gap, text)
			}
		})
	}
	if configurations < 2 {
		t.Fatalf("found %d Caddyfile configurations in the README, want the full site and the access log", configurations)
	}
}

func TestExampleCaddyfileFiltersSecretHeaders(t *testing.T) {
	text, err := os.ReadFile("../Caddyfile")
	must(t, err)
	for _, gap := range secretHeaderFilterGaps(t, string(text)) {
		t.Error(gap)
	}
}

// secretHeaderFilterGaps adapts a Caddyfile and names every log that does
// not delete Api-Signature and X-Api-Key from the request headers, and
// every Caddyfile that does not configure the default log.
func secretHeaderFilterGaps(t *testing.T, caddyfileText string) []string {
	t.Helper()
	adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfileText), nil)
	must(t, err)
	var cfg struct {
		Logging struct {
			Logs map[string]struct {
				Encoder struct {
					Format string `json:"format"`
					Fields map[string]struct {
						Filter string `json:"filter"`
					} `json:"fields"`
				} `json:"encoder"`
			} `json:"logs"`
		} `json:"logging"`
	}
	must(t, json.Unmarshal(adapted, &cfg))
	var gaps []string
	if _, ok := cfg.Logging.Logs["default"]; !ok {
		gaps = append(gaps, "the default log is not configured, so it records the headers")
	}
	for name, log := range cfg.Logging.Logs {
		for _, header := range []string{"Api-Signature", "X-Api-Key"} {
			field := "request>headers>" + header
			if log.Encoder.Format != "filter" || log.Encoder.Fields[field].Filter != "delete" {
				gaps = append(gaps, fmt.Sprintf("log %q does not delete %s", name, field))
			}
		}
	}
	return gaps
}

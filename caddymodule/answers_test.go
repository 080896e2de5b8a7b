package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/checkoutgw/checkoutgw/envelope"
)

// ordersAPI declares one operation whose 200 answer has a strict schema
// and one whose answer is not JSON, so never checked.
const ordersAPI = `openapi: 3.0.3
info: {title: Orders, version: '1'}
servers: [{url: 'https://api.example.com/v1'}]
paths:
  /orders/{OrderID}:
    get:
      operationId: GetOrder
      parameters: [{name: OrderID, in: path, required: true, schema: {type: string}}]
      responses:
        '200':
          description: the order
          content: {application/json: {schema: {$ref: '#/components/schemas/Order'}}}
  /exports:
    get:
      operationId: GetExport
      responses:
        '200':
          description: an export
          content: {application/x-ndjson: {schema: {type: string}}}
components:
  schemas:
    Order:
      type: object
      additionalProperties: false
      required: [OrderID, Amount]
      properties:
        OrderID: {type: string}
        Amount: {type: integer}
        Padding: {type: string}
`

// Upstream answers by order id; every value in them is a stand-in for
// customer data and must never reach a log.
var orderAnswers = map[string]string{
	"valid":   `{"OrderID":"ord-valid-7c1e9","Amount":1250}`,
	"missing": `{"OrderID":"ord-missing-4b2d8"}`,
	"type":    `{"OrderID":"ord-type-9f3a1","Amount":"twelve-fifty-euros"}`,
	"extra":   `{"OrderID":"ord-extra-2e6c4","Amount":1,"CardNumber":"4111111111111111"}`,
	"dup":     `{"OrderID":"ord-dupe-first-8d","OrderID":"ord-dupe-second-8d","Amount":1}`,
	"large":   `{"OrderID":"ord-large-5a0b3","Amount":1,"Padding":"` + strings.Repeat("p", maxCheckedAnswer) + `"}`,
}

const plainOrderAnswer = "OrderID=ord-plain-3c7f0&Amount=1"

func init() {
	for name, answer := range orderAnswers {
		if name != "dup" && name != "large" {
			canary.recordBodyValues(answer)
		}
	}
	canary.record("an answer value", "ord-dupe-first-8d")
	canary.record("an answer value", "ord-dupe-second-8d")
	canary.record("an answer value", "ord-large-5a0b3")
	canary.record("an answer value", plainOrderAnswer)
}

type answerFixture struct {
	gw  *gateway
	key *testKey
	// admin is the port of the admin endpoint, for /metrics.
	admin int
	// exportStarted is closed by the client once the first part of an
	// export arrived; the upstream sends the rest only then.
	exportStarted chan struct{}
}

// newAnswerFixture starts a gateway guarding ordersAPI with the given
// openapi block options.
func newAnswerFixture(t *testing.T, options string) *answerFixture {
	f := &answerFixture{key: newTestKey(t, "k256", "ES256"), admin: freePort(t), exportStarted: make(chan struct{})}
	doc := filepath.Join(t.TempDir(), "orders.yaml")
	must(t, os.WriteFile(doc, []byte(ordersAPI), 0o600))
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream-Internal", "build-1234")
		if r.URL.Path == "/v1/exports" {
			streamExport(w, f.exportStarted)
			return
		}
		id := strings.TrimPrefix(r.URL.Path, "/v1/orders/")
		if id == "plain" {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, plainOrderAnswer)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, orderAnswers[id])
	})
	block := "\t\t\topenapi " + doc
	if options != "" {
		block += " {\n\t\t\t\t" + options + "\n\t\t\t}"
	}
	f.gw = startCaddyWith(t, fmt.Sprintf("admin 127.0.0.1:%d", f.admin), gatewaySite(up.hostPort(), "\t\t\tjwks_file "+writeJWKS(t, f.key)+"\n"+block+"\n"))
	return f
}

// streamExport sends a large answer in two parts, the second only once the
// client has the first: an answer the gateway held whole would never end.
func streamExport(w http.ResponseWriter, started chan struct{}) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	chunk := bytes.Repeat([]byte("{}\n"), maxCheckedAnswer)
	_, _ = w.Write(chunk)
	w.(http.Flusher).Flush()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		return
	}
	_, _ = w.Write(chunk)
}

func (f *answerFixture) get(t *testing.T, target string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.gw.url+target, nil)
	must(t, err)
	req.Header.Set("Api-Signature", f.key.sign(t, operationClaims(http.MethodGet, target, ""), false))
	return do(t, req)
}

func (f *answerFixture) metric(t *testing.T, series string) float64 {
	t.Helper()
	return metricValue(t, f.admin, series)
}

// answerCases are the upstream answers and what a check finds in them:
// the fault, and the property paths the log line names.
var answerCases = []struct {
	name, id, fault string
	paths           []string
	body            string // as the upstream sent it
}{
	{"valid", "valid", "", nil, orderAnswers["valid"]},
	{"required property missing", "missing", faultResponseSchema, []string{`"Amount":["is required"]`}, orderAnswers["missing"]},
	{"wrong type", "type", faultResponseSchema, []string{`"Amount":["must be an integer, not string"]`}, orderAnswers["type"]},
	{"extra property", "extra", faultResponseSchema, []string{`"CardNumber":["is not allowed"]`}, orderAnswers["extra"]},
	{"not strict JSON", "dup", faultResponseNotJSON, []string{"duplicate member"}, orderAnswers["dup"]},
	{"not JSON at all", "plain", faultResponseNotJSON, []string{"not application/json"}, plainOrderAnswer},
}

// logLineFor is the latest log line that names the fault: the request's,
// as the cases run one after the other.
func logLineFor(t *testing.T, logs, fault string) string {
	t.Helper()
	lines := strings.Split(logs, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], `"upstream_fault":"`+fault+`"`) {
			return lines[i]
		}
	}
	t.Fatalf("no log line with upstream_fault %s in\n%s", fault, logs)
	return ""
}

func TestValidateResponsesLog(t *testing.T) {
	f := newAnswerFixture(t, "validate_responses log")
	for _, tc := range answerCases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.metric(t, `caddy_checkout_gateway_response_mismatches_total{fault="`+tc.fault+`",operation="GetOrder"}`)
			resp := f.get(t, "/v1/orders/"+tc.id)
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(data) != tc.body || resp.Header.Get("X-Upstream-Internal") == "" {
				t.Fatalf("got %d %.80s, want the upstream's answer unchanged", resp.StatusCode, data)
			}
			if tc.fault == "" {
				if strings.Contains(f.gw.logs(t), "response schema") {
					t.Error("a valid answer was logged as a mismatch")
				}
				return
			}
			line := logLineFor(t, f.gw.logs(t), tc.fault)
			for _, want := range append(tc.paths, `"level":"warn"`, `"operation":"GetOrder"`) {
				if !strings.Contains(line, want) {
					t.Errorf("log line lacks %s: %s", want, line)
				}
			}
			if after := f.metric(t, `caddy_checkout_gateway_response_mismatches_total{fault="`+tc.fault+`",operation="GetOrder"}`); after != before+1 {
				t.Errorf("response_mismatches_total went from %v to %v", before, after)
			}
		})
	}
	t.Run("too large to check streams on", func(t *testing.T) {
		resp := f.get(t, "/v1/orders/large")
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(data) != orderAnswers["large"] {
			t.Fatalf("got %d and %d bytes, want the %d bytes of the upstream", resp.StatusCode, len(data), len(orderAnswers["large"]))
		}
		line := logLineFor(t, f.gw.logs(t), faultResponseTooLarge)
		if !strings.Contains(line, `"operation":"GetOrder"`) {
			t.Errorf("log line lacks the operation: %s", line)
		}
	})
	t.Run("an answer without a JSON schema streams", func(t *testing.T) {
		f.expectStreamed(t)
	})
}

func TestValidateResponsesEnforce(t *testing.T) {
	f := newAnswerFixture(t, "validate_responses enforce")
	for _, tc := range append(answerCases, struct {
		name, id, fault string
		paths           []string
		body            string
	}{"too large to check", "large", faultResponseTooLarge, []string{`"limit":1048576`}, ""}) {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.get(t, "/v1/orders/"+tc.id)
			if tc.fault == "" {
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(data) != tc.body {
					t.Fatalf("got %d %s, want the valid answer unchanged", resp.StatusCode, data)
				}
				return
			}
			env := decodedEnvelope(t, resp)
			if resp.StatusCode != http.StatusBadGateway || env.Type != envelope.TypeUnexpected || env.Action != "GetOrder" {
				t.Fatalf("got %d %s %s, want 502 Unexpected for GetOrder", resp.StatusCode, env.Type, env.Action)
			}
			if resp.Header.Get("X-Upstream-Internal") != "" || strings.Contains(env.Detail, "Amount") {
				t.Error("the upstream's headers or the mismatch reached the client")
			}
			line := logLineFor(t, f.gw.logs(t), tc.fault)
			for _, want := range append(tc.paths, `"reason":"response_invalid"`, `"operation":"GetOrder"`, `"instance":"`+env.Instance+`"`) {
				if !strings.Contains(line, want) {
					t.Errorf("log line lacks %s: %s", want, line)
				}
			}
		})
	}
	t.Run("an answer without a JSON schema streams", func(t *testing.T) {
		f.expectStreamed(t)
	})
}

func TestValidateResponsesOff(t *testing.T) {
	f := newAnswerFixture(t, "")
	for _, tc := range answerCases {
		t.Run(tc.name+" passes unchecked", func(t *testing.T) {
			resp := f.get(t, "/v1/orders/"+tc.id)
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(data) != tc.body {
				t.Fatalf("got %d %s, want the upstream's answer unchanged", resp.StatusCode, data)
			}
		})
	}
	if logs := f.gw.logs(t); strings.Contains(logs, "upstream_fault") {
		t.Errorf("answers were judged with validate_responses off:\n%s", logs)
	}
	t.Run("a large answer streams", func(t *testing.T) {
		f.expectStreamed(t)
	})
}

// expectStreamed reads the first part of an export before the upstream
// sends the rest: only a streamed answer gets there.
func (f *answerFixture) expectStreamed(t *testing.T) {
	t.Helper()
	resp := f.get(t, "/v1/exports")
	defer resp.Body.Close()
	first := make([]byte, maxCheckedAnswer*3)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatalf("the first part did not arrive before the upstream finished: %v", err)
	}
	close(f.exportStarted)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || len(rest) != len(first) {
		t.Fatalf("the rest: %d bytes, %v", len(rest), err)
	}
}

func TestValidateResponsesConfig(t *testing.T) {
	jwks := writeJWKS(t, newTestKey(t, "k256", "ES256"))
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	must(t, os.WriteFile(broken, []byte(strings.Replace(ordersAPI, "Amount: {type: integer}", "Amount: {type: integer, minimum: ten}", 1)), 0o600))
	site := func(openapi string) string {
		return testCaddyfile("admin off", t.TempDir()+"/log", freePort(t), gatewaySite("127.0.0.1:1", "\t\t\tjwks_file "+jwks+"\n\t\t\topenapi "+openapi))
	}
	for _, tc := range []struct{ name, openapi, want string }{
		{"log", exampleOpenAPI + " {\n validate_responses log\n }", ""},
		{"enforce", exampleOpenAPI + " {\n validate_responses enforce\n }", ""},
		{"unknown mode", exampleOpenAPI + " {\n validate_responses strict\n }", `openapi validate_responses: "strict" is not one of log, enforce`},
		{"missing mode", exampleOpenAPI + " {\n validate_responses\n }", "openapi validate_responses"},
		{"two modes", exampleOpenAPI + " {\n validate_responses log enforce\n }", "openapi validate_responses"},
		{"given twice", exampleOpenAPI + " {\n validate_responses log\n validate_responses log\n }", "openapi validate_responses: option given more than once"},
		{"response schema that does not compile", broken + " {\n validate_responses log\n }",
			"operation GetOrder (#/paths/~1orders~1{OrderID}/get/responses/200/content/application~1json/schema)"},
		{"off: response schemas are not compiled", broken, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validateCaddyfile(site(tc.openapi))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	t.Run("JSON twin refuses an unknown mode", func(t *testing.T) {
		cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(site(exampleOpenAPI+" {\n validate_responses log\n }")), nil)
		must(t, err)
		cfgJSON = bytes.Replace(cfgJSON, []byte(`"validate_responses":"log"`), []byte(`"validate_responses":"sometimes"`), 1)
		var cfg caddy.Config
		must(t, json.Unmarshal(cfgJSON, &cfg))
		if err := caddy.Validate(&cfg); err == nil || !strings.Contains(err.Error(), `"sometimes" is not one of log, enforce`) {
			t.Fatalf("error %v", err)
		}
	})
}

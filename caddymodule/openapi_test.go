package caddymodule

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/checkoutgw/checkoutgw/envelope"
)

const exampleOpenAPI = "../examples/openapi/checkout-api.yaml"

type openAPIFixture struct {
	gw  *gateway
	up  *upstream
	key *testKey
}

func newOpenAPIFixture(t *testing.T) *openAPIFixture {
	f := &openAPIFixture{key: newTestKey(t, "k256", "ES256"), up: newUpstream(t, nil)}
	f.gw = startCaddy(t, gatewaySite(f.up.hostPort(), "\t\t\tjwks_file "+writeJWKS(t, f.key)+"\n\t\t\topenapi "+exampleOpenAPI+"\n"))
	return f
}

// operationClaims are valid claims binding method, path and query; a body
// gets its hash, no body none.
func operationClaims(method, target, body string) map[string]any {
	path, rawQuery, _ := strings.Cut(target, "?")
	c := validClaims(body)
	c["method"], c["path"] = method, path
	if body == "" {
		delete(c, "bodyHash")
	}
	if query, _ := url.ParseQuery(rawQuery); len(query) > 0 {
		params := map[string]any{}
		for name, values := range query {
			params[name] = values
		}
		c["queryParams"] = params
	}
	return c
}

func withAudience(c map[string]any, aud string) map[string]any {
	c["aud"] = aud
	return c
}

// send sends a request signed for exactly itself unless claims are given.
func (f *openAPIFixture) send(t *testing.T, method, target, body string, claims map[string]any, headers ...string) *http.Response {
	t.Helper()
	if claims == nil {
		claims = operationClaims(method, target, body)
	}
	req, err := http.NewRequest(method, f.gw.url+target, strings.NewReader(body))
	must(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Api-Signature", f.key.sign(t, claims, false))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(t, req)
}

const (
	payoutCard = `"PaymentMethod":{"Type":"Card","PaymentMethodID":"0b7e4f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"}`
	goodPayout = `{"CustomerID":"c1","FiatAmount":10,"Reference":null,` + payoutCard + `}`
)

func TestOpenAPIAccepts(t *testing.T) {
	f := newOpenAPIFixture(t)
	for _, tc := range []struct{ name, method, target, body string }{
		{"POST with the reference body", "POST", "/v1/checkout/manage", validBody},
		{"GET with query", "GET", "/v1/transactions?PageSize=10&SortDirection=ASC&Since=2024-04-16T10:00:00Z", ""},
		{"GET without query", "GET", "/v1/transactions", ""},
		{"path parameter", "GET", "/v1/customers/cust-1", ""},
		{"literal beats template", "GET", "/v1/channels/sell?CryptoCurrency=BTC&FiatAmount=0.01", ""},
		{"template beside a literal", "GET", "/v1/channels/0b7e4f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b", ""},
		{"discriminated body", "POST", "/v1/checkout/payout", goodPayout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.up.reset()
			resp := f.send(t, tc.method, tc.target, tc.body, nil)
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, data)
			}
			got := f.up.received()
			if len(got) != 1 || got[0].method != tc.method || got[0].uri != tc.target || string(got[0].body) != tc.body {
				t.Errorf("upstream saw %+v, want %s %s with the body unchanged", got, tc.method, tc.target)
			}
		})
	}
}

func TestOpenAPIRefuses(t *testing.T) {
	f := newOpenAPIFixture(t)
	for _, tc := range []struct {
		name, method, target, body string
		claims                     map[string]any // nil: signed for the request
		headers                    []string
		status                     int
		reason                     envelope.Reason
		action                     string
		fields                     map[string][]string
		allow                      string
	}{
		{name: "unknown path", method: "GET", target: "/v1/nowhere", status: 404, reason: envelope.ReasonOperationNotFound, action: "NOAH Business API (checkout)"},
		{name: "outside the base path", method: "POST", target: "/checkout/manage", body: validBody, status: 404, reason: envelope.ReasonOperationNotFound},
		{name: "known path, other method", method: "DELETE", target: "/v1/customers/c1", status: 405, reason: envelope.ReasonMethodNotAllowed, allow: "GET"},
		{name: "integer from text", method: "GET", target: "/v1/transactions?PageSize=abc", status: 400, reason: envelope.ReasonParameterInvalid, action: "GetTransactions",
			fields: map[string][]string{"PageSize": {"must be an integer"}}},
		{name: "every query violation at once", method: "GET", target: "/v1/transactions?PageSize=0&SortDirection=UP&Since=yesterday&Debug=1", status: 400, reason: envelope.ReasonParameterInvalid,
			fields: map[string][]string{"PageSize": {"must be at least 1"}, "SortDirection": {"must be one of ASC, DESC"}, "Since": {"must be a valid date-time"}, "Debug": {"is not a parameter of this operation"}}},
		{name: "required query parameter", method: "GET", target: "/v1/channels/sell", status: 400, reason: envelope.ReasonParameterInvalid, action: "GetChannelsSell",
			fields: map[string][]string{"CryptoCurrency": {"is required"}}},
		{name: "boolean exclusiveMinimum on a query parameter", method: "GET", target: "/v1/channels/sell?CryptoCurrency=BTC&FiatAmount=0", status: 400, reason: envelope.ReasonParameterInvalid,
			fields: map[string][]string{"FiatAmount": {"must be more than 0"}}},
		{name: "path parameter", method: "GET", target: "/v1/channels/not-a-uuid", status: 400, reason: envelope.ReasonParameterInvalid, action: "GetChannel",
			fields: map[string][]string{"ChannelID": {"must be a valid uuid"}}},
		{name: "header parameter", method: "POST", target: "/v1/checkout/payout", body: goodPayout, headers: []string{"Idempotency-Key", "twice"}, status: 400, reason: envelope.ReasonParameterInvalid,
			fields: map[string][]string{"Idempotency-Key": {"must be a valid uuid"}}},
		{name: "nullable: null where not nullable", method: "POST", target: "/v1/checkout/payout", body: `{"CustomerID":null,"FiatAmount":10,` + payoutCard + `}`, status: 400, reason: envelope.ReasonSchema, action: "CreatePayout",
			fields: map[string][]string{"CustomerID": {"must be a string, not null"}}},
		{name: "boolean exclusiveMinimum in a body", method: "POST", target: "/v1/checkout/payout", body: `{"CustomerID":"c1","FiatAmount":0,` + payoutCard + `}`, status: 400, reason: envelope.ReasonSchema,
			fields: map[string][]string{"FiatAmount": {"must be more than 0"}}},
		{name: "readOnly property", method: "POST", target: "/v1/checkout/payout", body: `{"PayoutID":"p1","CustomerID":"c1","FiatAmount":1,` + payoutCard + `}`, status: 400, reason: envelope.ReasonSchema},
		{name: "discriminator picks the branch", method: "POST", target: "/v1/checkout/payout", body: `{"CustomerID":"c1","FiatAmount":1,"PaymentMethod":{"Type":"Card","PaymentMethodID":"x"}}`, status: 400, reason: envelope.ReasonSchema,
			fields: map[string][]string{"PaymentMethod.PaymentMethodID": {"must be a valid uuid"}}},
		{name: "format date", method: "POST", target: "/v1/checkout/manage", body: strings.Replace(validBody, "1987-06-30", "2023-02-29", 1), status: 400, reason: envelope.ReasonSchema, action: "CreateManagedSession"},
		{name: "body on an operation without one", method: "GET", target: "/v1/customers/c1", body: `{}`, status: 400, reason: envelope.ReasonBodyNotAllowed},
		{name: "required body missing", method: "POST", target: "/v1/checkout/payout", status: 400, reason: envelope.ReasonBodyRequired},
		{name: "other media type", method: "POST", target: "/v1/checkout/manage", body: validBody, headers: []string{"Content-Type", "text/plain"}, status: 415, reason: envelope.ReasonMediaType},
		{name: "query not signed", method: "GET", target: "/v1/transactions?PageSize=10", claims: operationClaims("GET", "/v1/transactions", ""), status: 401, reason: envelope.ReasonQueryMismatch, action: "GetTransactions"},
		{name: "query signed with another value", method: "GET", target: "/v1/transactions?PageSize=10", claims: operationClaims("GET", "/v1/transactions?PageSize=11", ""), status: 401, reason: envelope.ReasonQueryMismatch},
		{name: "path signed without the base path", method: "GET", target: "/v1/transactions", claims: operationClaims("GET", "/transactions", ""), status: 401, reason: envelope.ReasonPathMismatch},
		{name: "method signed as POST", method: "GET", target: "/v1/transactions", claims: operationClaims("POST", "/v1/transactions", ""), status: 401, reason: envelope.ReasonMethodMismatch},
		{name: "token checked before parameters", method: "GET", target: "/v1/transactions?PageSize=abc", claims: withAudience(operationClaims("GET", "/v1/transactions?PageSize=abc", ""), "x"), status: 401, reason: envelope.ReasonAudience},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.up.reset()
			resp := f.send(t, tc.method, tc.target, tc.body, tc.claims, tc.headers...)
			env := decodedEnvelope(t, resp)
			if resp.StatusCode != tc.status || env.Type != envelope.VerdictOf(tc.reason).Type {
				t.Fatalf("got %d %s (%s), want %d for %s", resp.StatusCode, env.Type, env.Detail, tc.status, tc.reason)
			}
			if tc.action != "" && env.Action != tc.action {
				t.Errorf("Action %q, want %q", env.Action, tc.action)
			}
			if tc.allow != "" && resp.Header.Get("Allow") != tc.allow {
				t.Errorf("Allow %q, want %q", resp.Header.Get("Allow"), tc.allow)
			}
			if tc.fields != nil {
				if env.Extensions == nil || !reflect.DeepEqual(env.Extensions.Request, tc.fields) {
					t.Errorf("Extensions %+v, want %v", env.Extensions, tc.fields)
				}
			}
			if n := len(f.up.received()); n != 0 {
				t.Errorf("the upstream saw %d requests", n)
			}
			logs := f.gw.logs(t)
			if !strings.Contains(logs, `"reason":"`+string(tc.reason)+`"`) {
				t.Errorf("no log line with reason %s", tc.reason)
			}
		})
	}
}

// TestOpenAPILogsTheOperationNotThePath: log lines name the operation by
// its operationId, a fixed set, never by the path the client sent.
func TestOpenAPILogsTheOperationNotThePath(t *testing.T) {
	f := newOpenAPIFixture(t)
	resp := f.send(t, "GET", "/v1/customers/secret-customer-77", "", withAudience(operationClaims("GET", "/v1/customers/secret-customer-77", ""), "x"))
	resp.Body.Close()
	logs := f.gw.logs(t)
	if !strings.Contains(logs, `"operation":"GetCustomer"`) {
		t.Errorf("no operation field in the refusal's log line:\n%s", logs)
	}
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, "checkout_gateway") && strings.Contains(line, "secret-customer-77") {
			t.Errorf("the gateway logged the raw path: %s", line)
		}
	}
}

func TestOpenAPIConfigErrors(t *testing.T) {
	jwks := writeJWKS(t, newTestKey(t, "k", "ES256"))
	external := t.TempDir() + "/external.yaml"
	must(t, os.WriteFile(external, []byte(`openapi: 3.0.3
info: {title: t, version: '1'}
paths:
  /a:
    post:
      operationId: MakeA
      requestBody:
        content:
          application/json:
            schema: {$ref: 'other.yaml#/A'}
      responses: {'200': {description: ok}}
`), 0o600))
	for _, tc := range []struct{ name, options, want string }{
		{"with schema", "openapi " + exampleOpenAPI + "\n\t\t\tschema create_managed_session", "openapi and schema cannot be used together"},
		{"with methods", "openapi " + exampleOpenAPI + "\n\t\t\tmethods GET", "openapi and methods cannot be used together"},
		{"missing file", "openapi /nonexistent/api.yaml", "openapi: open /nonexistent/api.yaml"},
		{"external reference", "openapi " + external, `operation MakeA: #/paths/~1a/post/requestBody/content/application~1json/schema/$ref "other.yaml#/A" is external`},
		{"unknown sub-option", "openapi " + exampleOpenAPI + " {\n\t\t\t\tprefix /v1\n\t\t\t}", `openapi: unknown option "prefix"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validateCaddyfile(testCaddyfile("admin off", t.TempDir()+"/log", freePort(t), gatewaySite("127.0.0.1:1", "\t\t\tjwks_file "+jwks+"\n\t\t\t"+tc.options)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestExampleOpenAPICaddyfile validates examples/openapi/Caddyfile as
// caddy validate does in CI: the document loads and every operation compiles.
func TestExampleOpenAPICaddyfile(t *testing.T) {
	t.Chdir("..")
	text, err := os.ReadFile("examples/openapi/Caddyfile")
	must(t, err)
	must(t, validateCaddyfile(string(text)))
}

// TestOpenAPIThenSchemaGateway: a schema-mode gateway after an openapi one
// on the same request judges by its own schema, not by the operation the
// first one routed to.
func TestOpenAPIThenSchemaGateway(t *testing.T) {
	key, up := newTestKey(t, "k256", "ES256"), newUpstream(t, nil)
	jwks := writeJWKS(t, key)
	gw := startCaddy(t, `	route {
		checkout_gateway {
			jwks_file `+jwks+`
			openapi `+exampleOpenAPI+`
		}
		checkout_gateway {
			jwks_file `+jwks+`
		}
		reverse_proxy `+up.hostPort()+`
	}`)
	f := &openAPIFixture{gw: gw, up: up, key: key}
	resp := f.send(t, "POST", "/v1/checkout/manage", validBody, nil)
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(up.received()) != 1 {
		t.Fatalf("status %d (%s), upstream saw %d requests; want 200 and 1", resp.StatusCode, data, len(up.received()))
	}
}

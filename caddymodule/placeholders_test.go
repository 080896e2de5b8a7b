package caddymodule

import (
	"net/http"
	"net/http/httptest"

	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/signedrequest"
)

// TestPlaceholdersInAccessLog checks that {http.checkout_gateway.reason} and
// {http.checkout_gateway.kid} reach an access log, and that the filter the
// README recommends keeps the token and the API key out of it.
func TestPlaceholdersInAccessLog(t *testing.T) {
	k := newTestKey(t, "k384", "ES384")
	up := newUpstream(t, nil)
	accessLog := filepath.Join(t.TempDir(), "access.log")
	gw := startCaddy(t, fmt.Sprintf(`	log {
		output file %s
		format filter {
			wrap json
			request>headers>Api-Signature delete
			request>headers>X-Api-Key delete
		}
	}
	log_append checkout_reason {http.checkout_gateway.reason}
	log_append checkout_kid {http.checkout_gateway.kid}
%s`, accessLog, gatewaySite(up.hostPort(), "\t\t\tjwks_file "+writeJWKS(t, k))))

	good := k.sign(t, validClaims(validBody), false)
	expired := validClaims(validBody)
	expired["iat"], expired["exp"] = expired["iat"].(int64)-900, expired["iat"].(int64)-600
	for _, tok := range []string{good, k.sign(t, expired, false)} {
		resp := gw.post(t, testPath, tok, validBody, "X-Api-Key", "ak_live_secret_value")
		resp.Body.Close()
	}
	data, err := os.ReadFile(accessLog)
	must(t, err)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d access log lines", len(lines))
	}
	if !strings.Contains(lines[0], `"checkout_kid":"k384"`) || !strings.Contains(lines[0], `"checkout_reason":null`) {
		t.Errorf("accepted request's line: %s", lines[0])
	}
	if !strings.Contains(lines[1], `"checkout_reason":"token_expired"`) || !strings.Contains(lines[1], `"checkout_kid":"k384"`) {
		t.Errorf("refused request's line: %s", lines[1])
	}
	if strings.Contains(string(data), good[:40]) || strings.Contains(string(data), "ak_live_secret_value") {
		t.Error("the access log carries the token or the API key")
	}
}

// TestPlaceholdersSetWhateverTheLogLevel: the placeholders do not depend on
// the refusal's log line being written.
func TestPlaceholdersSetWhateverTheLogLevel(t *testing.T) {
	g := &Gateway{logger: zap.NewNop(), Action: "CreateManagedSession"}
	rec := httptest.NewRecorder()
	repl := caddy.NewReplacer()
	req := caddyhttp.PrepareRequest(httptest.NewRequest(http.MethodPost, testPath, nil), repl, rec, &caddyhttp.Server{})
	tok, rej := signedrequest.Parse(newTestKey(t, "k384", "ES384").sign(t, validClaims(validBody), false))
	if rej != nil {
		t.Fatal(rej)
	}
	g.refuse(rec, req, envelope.Reject(envelope.ReasonTokenExpired, "token expired"), tok)
	if got, _ := repl.GetString(placeholderReason); got != "token_expired" {
		t.Errorf("reason placeholder = %q", got)
	}
	if got, _ := repl.GetString(placeholderKid); got != "k384" {
		t.Errorf("kid placeholder = %q", got)
	}
}

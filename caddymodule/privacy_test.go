package caddymodule

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestNoCustomerDataInLogsOrAnswers sends accepted and refused requests that
// carry recognisable customer data and tokens, then searches every log line
// and every answer for them.
func TestNoCustomerDataInLogsOrAnswers(t *testing.T) {
	f := newVerdictFixture(t, "")
	secrets := []string{"Quintessa", "Marchbanks", "PZ9918273", "Evergreen", "cust-4471-zebra", "1987-06-30"}
	badBody := strings.Replace(validBody, `"IDType":"Passport"`, `"IDType":"PZ9918273-Passport"`, 1)
	badBody = strings.Replace(badBody, `"FirstName":"Quintessa"`, `"FirstName":"`+strings.Repeat("Quintessa", 6)+`"`, 1)
	badBody = strings.Replace(badBody, `"DateOfBirth":"1987-06-30"`, `"DateOfBirth":"1987-06-31"`, 1)
	badBody = strings.Replace(badBody, `"State":"OR"`, `"State":"Evergreen"`, 1)
	var tokens []string
	var answers []string
	send := func(path, token, body string) {
		resp := f.gw.post(t, path, token, body)
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answers = append(answers, string(data))
	}
	good := f.k384.sign(t, validClaims(validBody), false)
	tokens = append(tokens, good)
	send(testPath, good, validBody)

	bad := f.k384.sign(t, validClaims(badBody), false)
	tokens = append(tokens, bad)
	send(testPath, bad, badBody)

	forged := f.stranger.sign(t, validClaims(validBody), false)
	tokens = append(tokens, forged)
	send(testPath, forged, validBody)

	send(testPath, good, strings.Replace(validBody, "Quintessa", "Quintessb", 1))
	send(testPath, f.k384.sign(t, validClaims(`{"CustomerID":"cust-4471-zebra","CustomerID":"x"}`), false), `{"CustomerID":"cust-4471-zebra","CustomerID":"x"}`)

	if !strings.Contains(answers[1], "Customer.Identities[0].IDType") {
		t.Fatalf("the schema answer lacks the field path: %s", answers[1])
	}
	logs := f.gw.logs(t)
	for _, needle := range append(secrets, tokens...) {
		for i, a := range answers[1:] {
			if strings.Contains(a, needle) {
				t.Errorf("answer %d carries %q: %s", i+1, abbreviate(needle), a)
			}
		}
		if strings.Contains(logs, needle) {
			t.Errorf("the logs carry %q", abbreviate(needle))
		}
	}
	for _, part := range strings.Split(good, ".") {
		if strings.Contains(logs, part) {
			t.Errorf("the logs carry a part of a token")
		}
	}
	if n := strings.Count(logs, `"msg":"request refused"`); n != 4 {
		t.Errorf("%d refusal lines in the log, want 4", n)
	}
	if resp := f.gw.post(t, testPath, good, validBody); resp.StatusCode != http.StatusOK {
		t.Errorf("a valid request after the refusals got %d", resp.StatusCode)
	}
}

func abbreviate(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

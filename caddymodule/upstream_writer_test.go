package caddymodule

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestUpstreamWriterHoldsErrorsWhateverTheWritePath checks that an error
// answer is held back whether it is written, copied or flushed.
func TestUpstreamWriterHoldsErrorsWhateverTheWritePath(t *testing.T) {
	for name, write := range map[string]func(w http.ResponseWriter){
		"Write":    func(w http.ResponseWriter) { _, _ = w.Write([]byte("<html>oops</html>")) },
		"ReadFrom": func(w http.ResponseWriter) { _, _ = io.Copy(w, strings.NewReader("<html>oops</html>")) },
		"Flush": func(w http.ResponseWriter) {
			_, _ = w.Write([]byte("<html>"))
			_ = http.NewResponseController(w).Flush()
			_, _ = w.Write([]byte("oops</html>"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			uw := newUpstreamWriter(rec)
			uw.WriteHeader(http.StatusBadGateway)
			write(uw)
			if rec.Flushed || rec.Body.Len() != 0 || uw.wroteHeader {
				t.Fatalf("the error answer leaked: flushed=%v body=%q", rec.Flushed, rec.Body.String())
			}
			if uw.held.String() != "<html>oops</html>" || uw.isEnvelope() {
				t.Fatalf("held %q", uw.held.String())
			}
		})
	}
	t.Run("success streams", func(t *testing.T) {
		rec := httptest.NewRecorder()
		uw := newUpstreamWriter(rec)
		_, _ = io.Copy(uw, strings.NewReader("ok"))
		uw.Flush()
		if rec.Code != http.StatusOK || rec.Body.String() != "ok" || !rec.Flushed {
			t.Fatalf("got %d %q flushed=%v", rec.Code, rec.Body.String(), rec.Flushed)
		}
	})
	t.Run("oversized error is not an envelope", func(t *testing.T) {
		uw := newUpstreamWriter(httptest.NewRecorder())
		uw.Header().Set("Content-Type", "application/json")
		uw.WriteHeader(http.StatusBadRequest)
		body := `{"Type":"InvalidMessage","Instance":"x","Action":"a","Detail":"` + strings.Repeat("a", maxUpstreamErrorBody) + `"}`
		_, _ = uw.Write([]byte(body))
		if uw.isEnvelope() || uw.held.Len() != maxUpstreamErrorBody+1 || uw.received != int64(len(body)) {
			t.Fatal("an answer over the bound was taken as an envelope")
		}
	})
}

// TestIsJSONUTF8 holds the exact spellings' fast path to the general
// parse, near misses included.
func TestIsJSONUTF8(t *testing.T) {
	for _, tc := range []struct {
		contentType string
		want        bool
	}{
		{"application/json", true},
		{"Application/JSON", true},
		{"application/json; charset=utf-8", true},
		{"APPLICATION/JSON; CHARSET=UTF-8", true},
		{"application/json;charset=utf-8", true},
		{"application/json ; charset=\"utf-8\"", true},
		{"application/json; charset=utf-16", false},
		{"application/json; charset=utf-8; profile=x", false},
		{"application/jsonx", false},
		{"application/json; charset=utf-8x", false},
		{"application/j\u017fon", false}, // long s folds to s in Unicode
		{"application/json; char\u017fet=utf-8", false},
		{"text/json", false},
		{"", false},
	} {
		if got, general := isJSONUTF8(tc.contentType), parsesAsJSONUTF8(tc.contentType); got != tc.want || general != tc.want {
			t.Errorf("%q: isJSONUTF8 %v, the general parse %v, want %v", tc.contentType, got, general, tc.want)
		}
	}
}

func FuzzIsJSONUTF8(f *testing.F) {
	f.Add("application/json; charset=utf-8")
	f.Add("application/j\u017fon")
	f.Fuzz(func(t *testing.T, contentType string) {
		if isJSONUTF8(contentType) != parsesAsJSONUTF8(contentType) {
			t.Fatalf("%q: the fast path and the general parse disagree", contentType)
		}
	})
}

// TestIsDocumentedEnvelope checks that only the envelope's exact shape, as
// application/json, counts as an envelope; every near miss is replaced.
func TestIsDocumentedEnvelope(t *testing.T) {
	const exact = `{"Type":"InvalidMessage","Instance":"up-1","Action":"CreateManagedSession","Detail":"CustomerID unknown"}`
	const withExtensions = `{"Type":"InvalidMessage","Instance":"up-1","Action":"a","Detail":"d","Extensions":{"Request":{"CustomerID":["too long"]},"Features":{"ManagedSessions":["disabled"]}}}`
	for _, tc := range []struct {
		name, contentType, body string
		want                    bool
	}{
		{"exact", "application/json", exact, true},
		{"charset utf-8", "application/json; charset=utf-8", exact, true},
		{"charset UTF-8 upper case", "application/json; charset=UTF-8", exact, true},
		{"with Extensions", "application/json", withExtensions, true},
		{"empty Extensions", "application/json", `{"Type":"Forbidden","Instance":"i","Action":"a","Detail":"d","Extensions":{}}`, true},
		{"empty Action and Detail", "application/json", `{"Type":"Unexpected","Instance":"i","Action":"","Detail":""}`, true},
		{"every documented Type", "application/json", `{"Type":"InsufficientBalance","Instance":"i","Action":"a","Detail":"d"}`, true},
		{"with RequestExtension", "application/json", `{"Type":"InvalidMessage","Instance":"i","Action":"a","Detail":"d","RequestExtension":{"Body":[{"Field":"CustomerID","Reason":"SchemaValidation","Description":"too long"},{"Reason":"IntegrityValidation","Description":"d"}]}}`, true},
		{"with DenyExtension", "application/json", `{"Type":"Forbidden","Instance":"i","Action":"a","Detail":"d","DenyExtension":[{"Reason":"Compliance","Description":"d","Principal":{"ID":"c-1","Type":"Customer"}}]}`, true},
		{"RequestExtension item with an extra member", "application/json", `{"Type":"InvalidMessage","Instance":"i","Action":"a","Detail":"d","RequestExtension":{"Body":[{"Reason":"SchemaValidation","Description":"d","Value":"Quintessa"}]}}`, false},
		{"RequestExtension item without Description", "application/json", `{"Type":"InvalidMessage","Instance":"i","Action":"a","Detail":"d","RequestExtension":{"Body":[{"Field":"f","Reason":"SchemaValidation"}]}}`, false},
		{"RequestExtension with another member", "application/json", `{"Type":"InvalidMessage","Instance":"i","Action":"a","Detail":"d","RequestExtension":{"Body":[],"Echo":"x"}}`, false},
		{"RequestExtension Field a number", "application/json", `{"Type":"InvalidMessage","Instance":"i","Action":"a","Detail":"d","RequestExtension":{"Body":[{"Field":1,"Reason":"r","Description":"d"}]}}`, false},
		{"DenyExtension without Principal", "application/json", `{"Type":"Forbidden","Instance":"i","Action":"a","Detail":"d","DenyExtension":[{"Reason":"Compliance","Description":"d"}]}`, false},
		{"DenyExtension Principal with an extra member", "application/json", `{"Type":"Forbidden","Instance":"i","Action":"a","Detail":"d","DenyExtension":[{"Reason":"r","Description":"d","Principal":{"ID":"c","Type":"Customer","Name":"Quintessa"}}]}`, false},

		{"without Instance", "application/json", `{"Type":"InvalidMessage","Action":"a","Detail":"d"}`, false},
		{"empty Instance", "application/json", `{"Type":"InvalidMessage","Instance":"","Action":"a","Detail":"d"}`, false},
		{"Instance a number", "application/json", `{"Type":"InvalidMessage","Instance":7,"Action":"a","Detail":"d"}`, false},
		{"Instance null", "application/json", `{"Type":"InvalidMessage","Instance":null,"Action":"a","Detail":"d"}`, false},
		{"without Type", "application/json", `{"Instance":"i","Action":"a","Detail":"d"}`, false},
		{"undocumented Type", "application/json", `{"Type":"Teapot","Instance":"i","Action":"a","Detail":"d"}`, false},
		{"Type in another case", "application/json", `{"Type":"invalidmessage","Instance":"i","Action":"a","Detail":"d"}`, false},
		{"Type an array", "application/json", `{"Type":["Unexpected"],"Instance":"i","Action":"a","Detail":"d"}`, false},
		{"without Action", "application/json", `{"Type":"Unexpected","Instance":"i","Detail":"d"}`, false},
		{"without Detail", "application/json", `{"Type":"Unexpected","Instance":"i","Action":"a"}`, false},
		{"Detail an object", "application/json", `{"Type":"Unexpected","Instance":"i","Action":"a","Detail":{"FirstName":"Quintessa"}}`, false},
		{"lower-case members", "application/json", `{"type":"Unexpected","instance":"u","action":"a","detail":"d"}`, false},
		{"one lower-case member", "application/json", `{"Type":"Unexpected","instance":"u","Action":"a","Detail":"d"}`, false},
		{"extra debug member", "application/json", `{"Type":"Unexpected","Instance":"u","Action":"a","Detail":"d","debug":{"CustomerID":"cust-4471-zebra"}}`, false},
		{"issue's loose envelope", "application/json", `{"type":"Unexpected","instance":"u","debug":{"CustomerID":"cust-4471-zebra"}}`, false},
		{"duplicate Type", "application/json", `{"Type":"Unexpected","Type":"Forbidden","Instance":"i","Action":"a","Detail":"d"}`, false},
		{"duplicate Detail", "application/json", `{"Type":"Unexpected","Instance":"i","Action":"a","Detail":"d","Detail":"Quintessa"}`, false},
		{"trailing garbage", "application/json", exact + `<html>`, false},
		{"two objects", "application/json", exact + exact, false},
		{"byte-order mark", "application/json", "\ufeff" + exact, false},
		{"an array", "application/json", "[" + exact + "]", false},
		{"Extensions a string", "application/json", `{"Type":"Unexpected","Instance":"i","Action":"a","Detail":"d","Extensions":"x"}`, false},
		{"Extensions with another member", "application/json", `{"Type":"Unexpected","Instance":"i","Action":"a","Detail":"d","Extensions":{"Debug":{"x":["y"]}}}`, false},
		{"Extensions.Request a list", "application/json", `{"Type":"Unexpected","Instance":"i","Action":"a","Detail":"d","Extensions":{"Request":["x"]}}`, false},
		{"Extensions.Request reason a string", "application/json", `{"Type":"Unexpected","Instance":"i","Action":"a","Detail":"d","Extensions":{"Request":{"x":"y"}}}`, false},
		{"Extensions.Features reason a number", "application/json", `{"Type":"Unexpected","Instance":"i","Action":"a","Detail":"d","Extensions":{"Features":{"x":[1]}}}`, false},
		{"empty body", "application/json", ``, false},

		{"text/html", "text/html", exact, false},
		{"text/plain", "text/plain", exact, false},
		{"no Content-Type", "", exact, false},
		{"problem+json", "application/problem+json", exact, false},
		{"charset latin1", "application/json; charset=iso-8859-1", exact, false},
		{"another parameter", "application/json; profile=debug", exact, false},
		{"unparseable", "application/json;;", exact, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var contentType []string
			if tc.contentType != "" {
				contentType = []string{tc.contentType}
			}
			if got := isDocumentedEnvelope(contentType, []byte(tc.body)); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("repeated Content-Type", func(t *testing.T) {
		if isDocumentedEnvelope([]string{"application/json", "text/html"}, []byte(exact)) {
			t.Error("an answer with two Content-Types passed")
		}
	})
}

// hijackableRecorder is a recorder whose connection could be taken over.
type hijackableRecorder struct {
	*httptest.ResponseRecorder
	hijacked bool
}

func (h *hijackableRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h.hijacked = true
	return nil, nil, nil
}

// TestUpstreamWriterRelaysNoProtocolSwitch checks that no 1xx reaches the
// client and that no handler behind the gateway can take the connection.
func TestUpstreamWriterRelaysNoProtocolSwitch(t *testing.T) {
	for _, status := range []int{http.StatusContinue, http.StatusSwitchingProtocols, http.StatusProcessing, http.StatusEarlyHints} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			rec := &hijackableRecorder{ResponseRecorder: httptest.NewRecorder()}
			uw := newUpstreamWriter(rec)
			uw.WriteHeader(status)
			if uw.wroteHeader || rec.Code != http.StatusOK || rec.Result().StatusCode != http.StatusOK {
				t.Fatalf("a %d reached the client", status)
			}
			if uw.switching != (status == http.StatusSwitchingProtocols) {
				t.Errorf("switching = %v after a %d", uw.switching, status)
			}
		})
	}
	t.Run("Hijack through a ResponseController", func(t *testing.T) {
		rec := &hijackableRecorder{ResponseRecorder: httptest.NewRecorder()}
		uw := newUpstreamWriter(rec)
		if _, _, err := http.NewResponseController(uw).Hijack(); !errors.Is(err, errConnectionKept) || rec.hijacked || !uw.switching {
			t.Fatalf("err %v, hijacked %v", err, rec.hijacked)
		}
	})
}

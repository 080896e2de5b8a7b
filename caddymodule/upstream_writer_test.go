package caddymodule

import (
	"io"
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
			if uw.upstreamText() != "<html>oops</html>" || uw.isEnvelope() {
				t.Fatalf("held %q", uw.upstreamText())
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
		uw.WriteHeader(http.StatusBadRequest)
		_, _ = uw.Write([]byte(`{"Type":"InvalidMessage","Instance":"x","Detail":"` + strings.Repeat("a", maxUpstreamErrorBody) + `"}`))
		if uw.isEnvelope() || len(uw.upstreamText()) != maxLoggedUpstreamText {
			t.Fatal("an answer over the bound was taken as an envelope")
		}
	})
}

func TestNormalisedType(t *testing.T) {
	for status, want := range map[int]string{
		400: typeInvalidMessage, 405: typeInvalidMessage, 409: typeInvalidMessage, 413: typeInvalidMessage,
		415: typeInvalidMessage, 422: typeInvalidMessage, 401: typeUnauthorized, 403: typeForbidden,
		404: typeResourceNotFound, 429: typeUnexpected, 500: typeUnexpected, 502: typeUnexpected, 503: typeUnexpected,
	} {
		if got := normalisedType(status); got != want {
			t.Errorf("%d: got %s, want %s", status, got, want)
		}
	}
}

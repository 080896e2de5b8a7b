package caddymodule

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
)

// verdictFixture is a running gateway with two trusted keys (ES384 and
// ES256), an untrusted one, and a recording upstream.
type verdictFixture struct {
	gw       *gateway
	up       *upstream
	k384     *testKey
	k256     *testKey
	stranger *testKey
}

func newVerdictFixture(t *testing.T, extraOptions string) *verdictFixture {
	f := &verdictFixture{
		k384:     newTestKey(t, "k384", "ES384"),
		k256:     newTestKey(t, "k256", "ES256"),
		stranger: newTestKey(t, "k384", "ES384"),
	}
	f.up = newUpstream(t, nil)
	jwks := writeJWKS(t, f.k384, f.k256)
	f.gw = startCaddy(t, gatewaySite(f.up.hostPort(), "\t\t\tjwks_file "+jwks+"\n\t\t\tbody_read_timeout 1s\n"+extraOptions))
	return f
}

// claimsWith returns valid claims for body changed by edit.
func claimsWith(body string, edit func(c map[string]any)) map[string]any {
	c := validClaims(body)
	edit(c)
	return c
}

type verdictCase struct {
	name   string
	send   func(t *testing.T) *http.Response
	status int
	typ    string
	detail string // a substring the Detail must contain
}

// TestVerdicts sends one request per row of the verdict table through a
// real Caddy and checks the envelope, and that the upstream saw nothing.
func TestVerdicts(t *testing.T) {
	f := newVerdictFixture(t, "")
	gw, k := f.gw, f.k384
	good := func(t *testing.T) string { return k.sign(t, validClaims(validBody), false) }
	withToken := func(tok func(t *testing.T) string) func(t *testing.T) *http.Response {
		return func(t *testing.T) *http.Response { return gw.post(t, testPath, tok(t), validBody) }
	}
	withClaims := func(edit func(c map[string]any)) func(t *testing.T) *http.Response {
		return withToken(func(t *testing.T) string { return k.sign(t, claimsWith(validBody, edit), false) })
	}
	withHeader := func(header string) func(t *testing.T) *http.Response {
		return withToken(func(t *testing.T) string { return k.signRaw(t, header, mustJSON(t, validClaims(validBody))) })
	}
	withPayload := func(payload func() string) func(t *testing.T) *http.Response {
		return withToken(func(t *testing.T) string { return k.signRaw(t, `{"alg":"ES384","kid":"k384"}`, payload()) })
	}
	signedBody := func(body string, extra ...string) func(t *testing.T) *http.Response {
		return func(t *testing.T) *http.Response {
			return gw.post(t, testPath, k.sign(t, validClaims(body), false), body, extra...)
		}
	}
	rawPath := func(path string) func(t *testing.T) *http.Response {
		return func(t *testing.T) *http.Response {
			tok := k.sign(t, claimsWith(validBody, func(c map[string]any) { c["path"] = path }), false)
			return gw.rawRequest(t, fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nApi-Signature: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", path, tok, len(validBody), validBody))
		}
	}
	withContentType := func(contentType string) func(t *testing.T) *http.Response {
		return func(t *testing.T) *http.Response {
			req, _ := http.NewRequest(http.MethodPost, gw.url+testPath, strings.NewReader(validBody))
			req.Header.Set("Api-Signature", good(t))
			if contentType != "" {
				req.Header.Set("Content-Type", contentType)
			}
			return do(t, req)
		}
	}
	// Dates are taken when each case signs, not when the table is built: the
	// one-second margins must hold however long earlier cases took.
	now := func() int64 { return time.Now().Unix() }

	cases := []verdictCase{
		// Request line and headers.
		{"path percent-escape", rawPath("/checkout/%6danage"), 400, envelope.TypeInvalidMessage, "must not contain"},
		{"path double slash", rawPath("/checkout//manage"), 400, envelope.TypeInvalidMessage, "must not contain"},
		{"path dot segment", rawPath("/checkout/./manage"), 400, envelope.TypeInvalidMessage, ". or .."},
		{"path dot-dot segment", rawPath("/checkout/x/../manage"), 400, envelope.TypeInvalidMessage, ". or .."},
		{"path backslash", rawPath(`/checkout\manage`), 400, envelope.TypeInvalidMessage, "must not contain"},
		{"path semicolon", rawPath("/checkout/manage;x=1"), 400, envelope.TypeInvalidMessage, "must not contain"},
		{"query bad escape", func(t *testing.T) *http.Response { return gw.post(t, testPath+"?a=%zz", good(t), validBody) }, 400, envelope.TypeInvalidMessage, "query string"},
		{"query semicolon", func(t *testing.T) *http.Response { return gw.post(t, testPath+"?a=1;b=2", good(t), validBody) }, 400, envelope.TypeInvalidMessage, "query string"},
		{"Connection names Api-Signature", func(t *testing.T) *http.Response {
			return gw.post(t, testPath, good(t), validBody, "Connection", "keep-alive, Api-Signature")
		}, 400, envelope.TypeInvalidMessage, "Connection"},
		{"Connection names X-Api-Key", func(t *testing.T) *http.Response {
			return gw.post(t, testPath, good(t), validBody, "Connection", "x-api-key")
		}, 400, envelope.TypeInvalidMessage, "X-Api-Key"},
		{"Connection names X-Checkout-Key-ID", func(t *testing.T) *http.Response {
			return gw.post(t, testPath, good(t), validBody, "Connection", "X-Checkout-Key-ID")
		}, 400, envelope.TypeInvalidMessage, "X-Checkout-Key-Id"},
		{"Connection names Content-Encoding", func(t *testing.T) *http.Response {
			return gw.post(t, testPath, good(t), validBody, "Connection", "close, content-encoding")
		}, 400, envelope.TypeInvalidMessage, "Content-Encoding"},
		{"Upgrade websocket", func(t *testing.T) *http.Response {
			return gw.post(t, testPath, good(t), validBody, "Connection", "Upgrade", "Upgrade", "websocket")
		}, 400, envelope.TypeInvalidMessage, "upgrades are not accepted"},
		{"Upgrade without Connection", func(t *testing.T) *http.Response {
			return gw.post(t, testPath, good(t), validBody, "Upgrade", "h2c")
		}, 400, envelope.TypeInvalidMessage, "upgrades are not accepted"},
		{"Connection names Upgrade alone", func(t *testing.T) *http.Response {
			return gw.post(t, testPath, good(t), validBody, "Connection", "keep-alive, upgrade")
		}, 400, envelope.TypeInvalidMessage, "upgrades are not accepted"},
		{"X-HTTP-Method-Override", func(t *testing.T) *http.Response {
			return gw.post(t, testPath, good(t), validBody, "X-HTTP-Method-Override", "DELETE")
		}, 400, envelope.TypeInvalidMessage, "X-Http-Method-Override header is not accepted"},
		{"X-HTTP-Method", func(t *testing.T) *http.Response {
			return gw.post(t, testPath, good(t), validBody, "X-HTTP-Method", "PUT")
		}, 400, envelope.TypeInvalidMessage, "X-Http-Method header is not accepted"},
		{"X-Method-Override empty", func(t *testing.T) *http.Response {
			return gw.post(t, testPath, good(t), validBody, "X-Method-Override", "")
		}, 400, envelope.TypeInvalidMessage, "X-Method-Override header is not accepted"},
		{"trailers", func(t *testing.T) *http.Response {
			tok := good(t)
			return gw.rawRequest(t, "POST "+testPath+" HTTP/1.1\r\nHost: x\r\nApi-Signature: "+tok+"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nTrailer: X-Late\r\nConnection: close\r\n\r\n"+
				fmt.Sprintf("%x\r\n%s\r\n0\r\nX-Late: 1\r\n\r\n", len(validBody), validBody))
		}, 400, envelope.TypeInvalidMessage, "trailers"},
		{"method GET", func(t *testing.T) *http.Response {
			req, _ := http.NewRequest(http.MethodGet, gw.url+testPath, nil)
			req.Header.Set("Api-Signature", good(t))
			return do(t, req)
		}, 405, envelope.TypeInvalidMessage, "method GET"},

		// The token's shape.
		{"token missing", withToken(func(*testing.T) string { return "" }), 401, envelope.TypeUnauthorized, "missing"},
		{"token empty", func(t *testing.T) *http.Response { return gw.post(t, testPath, "", validBody, "Api-Signature", "") }, 401, envelope.TypeUnauthorized, "empty"},
		{"token repeated", func(t *testing.T) *http.Response {
			tok := good(t)
			return gw.post(t, testPath, tok, validBody, "Api-Signature", tok)
		}, 401, envelope.TypeUnauthorized, "repeated"},
		{"token over 8 KiB", withToken(func(*testing.T) string { return strings.Repeat("a", 8<<10+1) }), 401, envelope.TypeUnauthorized, "over 8192 bytes"},
		{"token two parts", withToken(func(t *testing.T) string { return good(t)[:strings.LastIndex(good(t), ".")] }), 401, envelope.TypeUnauthorized, "exactly three"},
		{"token four parts", withToken(func(t *testing.T) string { return good(t) + ".e30" }), 401, envelope.TypeUnauthorized, "exactly three"},
		{"token padded base64", withToken(func(t *testing.T) string {
			tok := good(t)
			h, rest, _ := strings.Cut(tok, ".")
			return h + strings.Repeat("=", (4-len(h)%4)%4+4) + "." + rest
		}), 401, envelope.TypeUnauthorized, "unpadded base64url"},
		{"token standard base64 alphabet", withToken(func(t *testing.T) string {
			tok := good(t)
			i := strings.LastIndex(tok, ".")
			sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
			return tok[:i+1] + base64.RawStdEncoding.EncodeToString(append(sig, 0xfb, 0xff))
		}), 401, envelope.TypeUnauthorized, "signature is not unpadded base64url"},
		{"token JSON serialisation", withToken(func(t *testing.T) string {
			tok := good(t)
			parts := strings.Split(tok, ".")
			return fmt.Sprintf(`{"payload":%q,"protected":%q,"signature":%q}`, parts[1], parts[0], parts[2])
		}), 401, envelope.TypeUnauthorized, "compact JWS"},
		{"header not JSON", withHeader(`not json`), 401, envelope.TypeUnauthorized, "header is not a strict JSON object"},
		{"header duplicate member", withHeader(`{"alg":"ES384","kid":"k384","alg":"ES384"}`), 401, envelope.TypeUnauthorized, "duplicate member"},
		{"payload duplicate member", withPayload(func() string {
			c := mustJSON(t, validClaims(validBody))
			return strings.Replace(c, `{`, `{"path":"/elsewhere",`, 1)
		}), 401, envelope.TypeUnauthorized, "duplicate member"},
		{"nested token as payload", withPayload(func() string { return `"` + good(t) + `"` }), 401, envelope.TypeUnauthorized, "not a strict JSON object"},

		// The header's members.
		{"header jwk", withHeader(`{"alg":"ES384","kid":"k384","jwk":{"kty":"EC"}}`), 401, envelope.TypeUnauthorized, `"jwk" is not allowed`},
		{"header jku", withHeader(`{"alg":"ES384","kid":"k384","jku":"https://evil.test/jwks"}`), 401, envelope.TypeUnauthorized, `"jku" is not allowed`},
		{"header x5u", withHeader(`{"alg":"ES384","kid":"k384","x5u":"https://evil.test/cert"}`), 401, envelope.TypeUnauthorized, `"x5u" is not allowed`},
		{"header x5c", withHeader(`{"alg":"ES384","kid":"k384","x5c":["MIIB"]}`), 401, envelope.TypeUnauthorized, `"x5c" is not allowed`},
		{"header crit", withHeader(`{"alg":"ES384","kid":"k384","crit":["exp"],"exp":1}`), 401, envelope.TypeUnauthorized, "is not allowed"},
		{"header b64", withHeader(`{"alg":"ES384","kid":"k384","b64":false}`), 401, envelope.TypeUnauthorized, `"b64" is not allowed`},
		{"header cty", withHeader(`{"alg":"ES384","kid":"k384","cty":"JWT"}`), 401, envelope.TypeUnauthorized, `"cty" is not allowed`},
		{"header zip", withHeader(`{"alg":"ES384","kid":"k384","zip":"DEF"}`), 401, envelope.TypeUnauthorized, `"zip" is not allowed`},
		{"header typ not JWT", withHeader(`{"alg":"ES384","kid":"k384","typ":"JOSE"}`), 401, envelope.TypeUnauthorized, "typ must be JWT"},
		{"header kid not a string", withHeader(`{"alg":"ES384","kid":7}`), 401, envelope.TypeUnauthorized, "kid must be a non-empty string"},
		{"alg missing", withHeader(`{"kid":"k384"}`), 401, envelope.TypeUnauthorized, "alg must be"},

		// Algorithms and keys.
		{"alg none", withHeader(`{"alg":"none","kid":"k384"}`), 401, envelope.TypeUnauthorized, `alg "none" is not accepted`},
		{"alg HS256", withHeader(`{"alg":"HS256","kid":"k384"}`), 401, envelope.TypeUnauthorized, `alg "HS256" is not accepted`},
		{"alg RS256 not configured", withHeader(`{"alg":"RS256","kid":"k384"}`), 401, envelope.TypeUnauthorized, `alg "RS256" is not accepted`},
		{"alg differs from the key's", withHeader(`{"alg":"ES256","kid":"k384"}`), 401, envelope.TypeUnauthorized, "does not match key"},
		{"kid unknown", withHeader(`{"alg":"ES384","kid":"k999"}`), 401, envelope.TypeUnauthorized, `kid "k999" is not a known signing key`},
		{"no kid and no key verifies", withToken(func(t *testing.T) string { return f.stranger.sign(t, validClaims(validBody), true) }), 401, envelope.TypeUnauthorized, "none of the 1 keys"},
		{"signature by another key", withToken(func(t *testing.T) string { return f.stranger.sign(t, validClaims(validBody), false) }), 401, envelope.TypeUnauthorized, "does not verify"},
		{"signature tampered", withToken(func(t *testing.T) string {
			tok := good(t)
			i := strings.LastIndex(tok, ".")
			sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
			sig[10] ^= 1
			return tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
		}), 401, envelope.TypeUnauthorized, "does not verify"},
		{"signature in DER form", withToken(func(t *testing.T) string {
			tok := good(t)
			i := strings.LastIndex(tok, ".")
			sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
			return tok[:i+1] + base64.RawURLEncoding.EncodeToString(derSignature(sig))
		}), 401, envelope.TypeUnauthorized, "does not verify"},
		{"curve does not fit alg", withToken(func(t *testing.T) string {
			p384 := &testKey{kid: "k256", alg: "ES256", priv: f.k384.priv}
			return p384.signRaw(t, `{"alg":"ES256"}`, mustJSON(t, validClaims(validBody)))
		}), 401, envelope.TypeUnauthorized, "none of the 1 keys for ES256"},

		// Claims.
		{"aud missing", withClaims(func(c map[string]any) { delete(c, "aud") }), 401, envelope.TypeUnauthorized, "aud must contain"},
		{"aud other", withClaims(func(c map[string]any) { c["aud"] = "https://api.example.com" }), 401, envelope.TypeUnauthorized, "aud must contain"},
		{"aud array without ours", withClaims(func(c map[string]any) { c["aud"] = []string{"a", "b"} }), 401, envelope.TypeUnauthorized, "aud must contain"},
		{"aud number", withClaims(func(c map[string]any) { c["aud"] = 1 }), 401, envelope.TypeUnauthorized, "aud must be a string or an array"},
		{"iat missing", withClaims(func(c map[string]any) { delete(c, "iat") }), 401, envelope.TypeUnauthorized, "no iat claim"},
		{"exp missing", withClaims(func(c map[string]any) { delete(c, "exp") }), 401, envelope.TypeUnauthorized, "no exp claim"},
		{"iat a string", withClaims(func(c map[string]any) { c["iat"] = fmt.Sprint(now()) }), 401, envelope.TypeUnauthorized, "iat must be a number"},
		{"exp a string", withClaims(func(c map[string]any) { c["exp"] = fmt.Sprint(now() + 60) }), 401, envelope.TypeUnauthorized, "exp must be a number"},
		{"expired", withClaims(func(c map[string]any) { n := now(); c["iat"], c["exp"] = n-600, n-300 }), 401, envelope.TypeUnauthorized, "token expired 5m"},
		{"expired one second past the skew", withClaims(func(c map[string]any) { n := now(); c["iat"], c["exp"] = n-300, n-61 }), 401, envelope.TypeUnauthorized, "token expired"},
		{"iat in the future", withClaims(func(c map[string]any) { n := now(); c["iat"], c["exp"] = n+120, n+300 }), 401, envelope.TypeUnauthorized, "in the future, beyond the allowed clock skew of 1m0s"},
		{"iat one second past the skew", withClaims(func(c map[string]any) { n := now(); c["iat"], c["exp"] = n+62, n+300 }), 401, envelope.TypeUnauthorized, "in the future"},
		{"exp not after iat", withClaims(func(c map[string]any) { c["exp"] = c["iat"] }), 401, envelope.TypeUnauthorized, "exp must be after iat"},
		{"lifetime one second over", withClaims(func(c map[string]any) { n := now(); c["iat"], c["exp"] = n, n+901 }), 401, envelope.TypeUnauthorized, "more than the 15m0s allowed"},
		{"nbf in the future", withClaims(func(c map[string]any) { c["nbf"] = now() + 120 }), 401, envelope.TypeUnauthorized, "nbf is "},
		{"method not a string", withClaims(func(c map[string]any) { c["method"] = 1 }), 401, envelope.TypeUnauthorized, "method must be a string"},
		{"path not a string", withClaims(func(c map[string]any) { c["path"] = []string{testPath} }), 401, envelope.TypeUnauthorized, "path must be a string"},
		{"bodyHash not a string", withClaims(func(c map[string]any) { c["bodyHash"] = 1 }), 401, envelope.TypeUnauthorized, "bodyHash must be a string"},
		{"queryParams not an object", withClaims(func(c map[string]any) { c["queryParams"] = "a=1" }), 401, envelope.TypeUnauthorized, "queryParams must be an object"},
		{"method missing", withClaims(func(c map[string]any) { delete(c, "method") }), 401, envelope.TypeUnauthorized, "no method claim"},
		{"path missing", withClaims(func(c map[string]any) { delete(c, "path") }), 401, envelope.TypeUnauthorized, "no path claim"},

		// Binding to the request.
		{"method differs", withClaims(func(c map[string]any) { c["method"] = "post" }), 401, envelope.TypeUnauthorized, "method claim does not match"},
		{"path with a version prefix", withClaims(func(c map[string]any) { c["path"] = "/v1" + testPath }), 401, envelope.TypeUnauthorized, "path claim does not match"},
		{"path case differs", withClaims(func(c map[string]any) { c["path"] = "/Checkout/manage" }), 401, envelope.TypeUnauthorized, "path claim does not match"},
		{"query not signed", func(t *testing.T) *http.Response { return gw.post(t, testPath+"?mode=test", good(t), validBody) }, 401, envelope.TypeUnauthorized, "no queryParams claim"},
		{"query value differs", func(t *testing.T) *http.Response {
			tok := k.sign(t, claimsWith(validBody, func(c map[string]any) { c["queryParams"] = map[string]any{"mode": "live"} }), false)
			return gw.post(t, testPath+"?mode=test", tok, validBody)
		}, 401, envelope.TypeUnauthorized, `"mode" does not match`},
		{"query array order differs", func(t *testing.T) *http.Response {
			tok := k.sign(t, claimsWith(validBody, func(c map[string]any) { c["queryParams"] = map[string]any{"b": []string{"2", "1"}} }), false)
			return gw.post(t, testPath+"?b=1&b=2", tok, validBody)
		}, 401, envelope.TypeUnauthorized, `"b" does not match`},
		{"repeated query name signed as its last value", func(t *testing.T) *http.Response {
			tok := k.sign(t, claimsWith(validBody, func(c map[string]any) { c["queryParams"] = map[string]any{"amount": "100"} }), false)
			return gw.post(t, testPath+"?amount=EVIL&amount=100", tok, validBody)
		}, 401, envelope.TypeUnauthorized, `"amount" is repeated in the request; sign it in queryParams as an array of all its values in order`},
		{"repeated query name signed as its first value", func(t *testing.T) *http.Response {
			tok := k.sign(t, claimsWith(validBody, func(c map[string]any) { c["queryParams"] = map[string]any{"amount": "100"} }), false)
			return gw.post(t, testPath+"?amount=100&amount=EVIL", tok, validBody)
		}, 401, envelope.TypeUnauthorized, `"amount" is repeated`},
		{"queryParams on a request without query", withClaims(func(c map[string]any) { c["queryParams"] = map[string]any{"a": "1"} }), 401, envelope.TypeUnauthorized, "request has no query"},
		{"bodyHash of other bytes", func(t *testing.T) *http.Response {
			return gw.post(t, testPath, good(t), strings.Replace(validBody, "Quintessa", "Quintessb", 1))
		}, 401, envelope.TypeUnauthorized, "bodyHash does not match the request body"},
		{"bodyHash re-serialised body", func(t *testing.T) *http.Response {
			return gw.post(t, testPath, good(t), strings.ReplaceAll(validBody, `":"`, `": "`))
		}, 401, envelope.TypeUnauthorized, "bodyHash does not match"},
		{"bodyHash in uppercase", withClaims(func(c map[string]any) { c["bodyHash"] = strings.ToUpper(bodyHash(validBody)) }), 401, envelope.TypeUnauthorized, "lowercase hex"},
		{"bodyHash missing with a body", withClaims(func(c map[string]any) { delete(c, "bodyHash") }), 401, envelope.TypeUnauthorized, "no bodyHash claim"},

		// Media type and size.
		{"Content-Type text/plain", withContentType("text/plain"), 415, envelope.TypeInvalidMessage, "Content-Type must be application/json"},
		{"Content-Type form", withContentType("application/x-www-form-urlencoded"), 415, envelope.TypeInvalidMessage, "application/json"},
		{"Content-Type missing", withContentType(""), 415, envelope.TypeInvalidMessage, "application/json"},
		{"Content-Type repeated", func(t *testing.T) *http.Response {
			return gw.post(t, testPath, good(t), validBody, "Content-Type", "text/plain")
		}, 415, envelope.TypeInvalidMessage, "exactly once"},
		{"Content-Type repeated identically", func(t *testing.T) *http.Response {
			return gw.post(t, testPath, good(t), validBody, "Content-Type", "application/json")
		}, 415, envelope.TypeInvalidMessage, "exactly once"},
		{"Content-Type two types in one line", withContentType("application/json, text/plain"), 415, envelope.TypeInvalidMessage, "application/json"},
		{"Content-Type charset utf-16", withContentType("application/json; charset=utf-16"), 415, envelope.TypeInvalidMessage, "charset=utf-8"},
		{"Content-Type charset latin1", withContentType("application/json; charset=ISO-8859-1"), 415, envelope.TypeInvalidMessage, "charset=utf-8"},
		{"Content-Type charset utf-32", withContentType("application/json;charset=utf-32"), 415, envelope.TypeInvalidMessage, "charset=utf-8"},
		{"Content-Type charset utf8 without dash", withContentType("application/json; charset=utf8"), 415, envelope.TypeInvalidMessage, "charset=utf-8"},
		{"Content-Type other parameter", withContentType("application/json; profile=x"), 415, envelope.TypeInvalidMessage, "charset=utf-8"},
		{"Content-Type charset twice", withContentType("application/json; charset=utf-8; charset=utf-16"), 415, envelope.TypeInvalidMessage, "application/json"},
		{"Content-Type json variant", withContentType("application/problem+json"), 415, envelope.TypeInvalidMessage, "application/json"},
		{"Content-Encoding gzip", signedBody(validBody, "Content-Encoding", "gzip"), 415, envelope.TypeInvalidMessage, "Content-Encoding gzip"},
		{"body over the limit by Content-Length", signedBody(strings.Repeat(" ", 64<<10) + validBody), 413, envelope.TypeInvalidMessage, "over the 65536-byte limit"},
		{"body over the limit while reading", func(t *testing.T) *http.Response {
			body := strings.Repeat(" ", 64<<10) + validBody
			req, _ := http.NewRequest(http.MethodPost, gw.url+testPath, io.MultiReader(strings.NewReader(body)))
			req.ContentLength = -1
			req.Header.Set("Api-Signature", k.sign(t, validClaims(body), false))
			req.Header.Set("Content-Type", "application/json")
			return do(t, req)
		}, 413, envelope.TypeInvalidMessage, "over the 65536-byte limit"},
		{"body not complete in time", func(t *testing.T) *http.Response {
			tok := good(t)
			return gw.rawRequest(t, "POST "+testPath+" HTTP/1.1\r\nHost: x\r\nApi-Signature: "+tok+"\r\nContent-Type: application/json\r\nContent-Length: "+fmt.Sprint(len(validBody))+"\r\n\r\n"+validBody[:20])
		}, 408, envelope.TypeInvalidMessage, "not complete within 1s"},

		// The body.
		{"body empty", signedBody(""), 400, envelope.TypeInvalidMessage, "body is empty"},
		{"body an array", signedBody(`[` + validBody + `]`), 400, envelope.TypeInvalidMessage, "not an object"},
		{"body invalid UTF-8", signedBody(`{"CustomerID":"a` + "\xff" + `"}`), 400, envelope.TypeInvalidMessage, "invalid UTF-8"},
		{"body duplicate key nested", signedBody(strings.Replace(validBody, `"LastName":"Marchbanks"`, `"LastName":"Marchbanks","LastName":"Other"`, 1)), 400, envelope.TypeInvalidMessage, "duplicate member at byte"},
		{"body trailing content", signedBody(validBody + `{}`), 400, envelope.TypeInvalidMessage, "content after the JSON value"},
		{"body nested 33 deep", signedBody(`{"CustomerID":` + strings.Repeat(`[`, 32) + strings.Repeat(`]`, 32) + `}`), 400, envelope.TypeInvalidMessage, "nesting deeper than 32"},
		{"body lone surrogate", signedBody(`{"CustomerID":"\ud800"}`), 400, envelope.TypeInvalidMessage, "lone surrogate"},
		{"body byte-order mark", signedBody("\xef\xbb\xbf" + validBody), 400, envelope.TypeInvalidMessage, "byte-order mark"},
		{"body schema violations", signedBody(`{"CustomerID":"","Extra":1}`), 400, envelope.TypeInvalidMessage, "2 invalid properties"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.up.reset()
			resp := tc.send(t)
			env := decodedEnvelope(t, resp)
			if resp.StatusCode != tc.status || env.Type != tc.typ {
				t.Fatalf("got %d %s (%s), want %d %s", resp.StatusCode, env.Type, env.Detail, tc.status, tc.typ)
			}
			if !strings.Contains(env.Detail, tc.detail) {
				t.Errorf("Detail %q does not say %q", env.Detail, tc.detail)
			}
			if env.Action != "CreateManagedSession" {
				t.Errorf("Action = %q", env.Action)
			}
			if tc.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q, want POST", resp.Header.Get("Allow"))
			}
			if got := f.up.received(); len(got) != 0 {
				t.Errorf("the upstream received %d requests", len(got))
			}
			if !strings.Contains(gw.logs(t), `"instance":"`+env.Instance+`"`) {
				t.Errorf("no log line carries Instance %s", env.Instance)
			}
		})
	}
}

// derSignature re-encodes a raw R||S ECDSA signature as ASN.1 DER, the
// mistake of signers that use a generic crypto API.
func derSignature(raw []byte) []byte {
	half := len(raw) / 2
	integer := func(b []byte) []byte {
		b = bytes.TrimLeft(b, "\x00")
		if len(b) > 0 && b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return append([]byte{0x02, byte(len(b))}, b...)
	}
	seq := append(integer(raw[:half]), integer(raw[half:])...)
	if len(seq) < 128 {
		return append([]byte{0x30, byte(len(seq))}, seq...)
	}
	return append([]byte{0x30, 0x81, byte(len(seq))}, seq...)
}

package signedrequest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/strictjson"
)

// The map-based decoding the Document-based parse replaced, kept as the
// reference the differential tests hold it to.

func referenceParse(value string) (*Token, *envelope.Rejection) {
	tok := new(Token)
	if _, rej := tok.split(value); rej != nil {
		return nil, rej
	}
	if rej := tok.referenceHeader(); rej != nil {
		return nil, rej
	}
	if rej := tok.referenceClaims(); rej != nil {
		return nil, rej
	}
	return tok, nil
}

// allowedHeaderMembers is the protected header's allow-list.
var allowedHeaderMembers = map[string]bool{"alg": true, "kid": true, "typ": true}

func (t *Token) referenceHeader() *envelope.Rejection {
	h, err := strictjson.Parse(t.header, nil)
	if err != nil {
		return envelope.Reject(envelope.ReasonTokenMalformed, "the token header is not a strict JSON object: %s", strictjson.Rule(err))
	}
	for name := range h {
		if !allowedHeaderMembers[name] {
			return envelope.Reject(envelope.ReasonTokenHeader, "the token header may hold only alg, kid and typ; %q is not allowed", envelope.Clip(name))
		}
	}
	alg, ok := h["alg"].(string)
	if !ok || alg == "" {
		return envelope.Reject(envelope.ReasonTokenHeader, "the token header's alg must be a non-empty string")
	}
	t.alg = alg
	if v, present := h["kid"]; present {
		kid, ok := v.(string)
		if !ok || kid == "" {
			return envelope.Reject(envelope.ReasonTokenHeader, "the token header's kid must be a non-empty string")
		}
		t.kid = kid
	}
	if v, present := h["typ"]; present && v != "JWT" {
		return envelope.Reject(envelope.ReasonTokenHeader, "the token header's typ must be JWT")
	}
	return nil
}

func (t *Token) referenceClaims() *envelope.Rejection {
	m, err := strictjson.Parse(t.payload, nil)
	if err != nil {
		return envelope.Reject(envelope.ReasonTokenMalformed, "the token payload is not a strict JSON object: %s", strictjson.Rule(err))
	}
	c := &t.claims
	switch aud := m["aud"].(type) {
	case string:
		c.addAudience(aud)
	case []any:
		for _, a := range aud {
			s, ok := a.(string)
			if !ok {
				return envelope.Reject(envelope.ReasonClaimType, "aud must be a string or an array of strings")
			}
			c.addAudience(s)
		}
	case nil:
		if _, present := m["aud"]; present {
			return envelope.Reject(envelope.ReasonClaimType, "aud must be a string or an array of strings")
		}
	default:
		return envelope.Reject(envelope.ReasonClaimType, "aud must be a string or an array of strings")
	}
	var rej *envelope.Rejection
	if c.issuedAt, _, rej = referenceNumericDate(m, "iat", true); rej != nil {
		return rej
	}
	if c.expiresAt, _, rej = referenceNumericDate(m, "exp", true); rej != nil {
		return rej
	}
	if c.notBefore, c.hasNotBefore, rej = referenceNumericDate(m, "nbf", false); rej != nil {
		return rej
	}
	if c.method, c.hasMethod, rej = referenceStringClaim(m, "method"); rej != nil {
		return rej
	}
	if c.path, c.hasPath, rej = referenceStringClaim(m, "path"); rej != nil {
		return rej
	}
	if c.bodyHash, c.hasBodyHash, rej = referenceStringClaim(m, "bodyHash"); rej != nil {
		return rej
	}
	if v, present := m["queryParams"]; present {
		q, rej := referenceQueryParams(v)
		if rej != nil {
			return rej
		}
		c.queryParams, c.hasQuery = q, true
	}
	return nil
}

func referenceNumericDate(m map[string]any, name string, required bool) (float64, bool, *envelope.Rejection) {
	v, present := m[name]
	if !present {
		if required {
			return 0, false, envelope.Reject(envelope.ReasonClaimMissing, "the token has no %s claim", name)
		}
		return 0, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, false, envelope.Reject(envelope.ReasonClaimType, "%s must be a number of seconds, not %s", name, referenceTypeName(v))
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false, envelope.Reject(envelope.ReasonClaimType, "%s is not a representable number of seconds", name)
	}
	return f, true, nil
}

func referenceStringClaim(m map[string]any, name string) (string, bool, *envelope.Rejection) {
	v, present := m[name]
	if !present {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", false, envelope.Reject(envelope.ReasonClaimType, "%s must be a string, not %s", name, referenceTypeName(v))
	}
	return s, true, nil
}

func referenceQueryParams(v any) (map[string]queryClaim, *envelope.Rejection) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, envelope.Reject(envelope.ReasonClaimType, "queryParams must be an object, not %s", referenceTypeName(v))
	}
	out := make(map[string]queryClaim, len(obj))
	for name, val := range obj {
		if arr, isArr := val.([]any); isArr {
			values := make([]string, 0, len(arr))
			for _, item := range arr {
				s, ok := referenceScalarText(item)
				if !ok {
					return nil, envelope.Reject(envelope.ReasonClaimType, "queryParams[%q] must hold strings", envelope.Clip(name))
				}
				values = append(values, s)
			}
			out[name] = queryClaim{values: values, every: true}
			continue
		}
		s, ok := referenceScalarText(val)
		if !ok {
			return nil, envelope.Reject(envelope.ReasonClaimType, "queryParams[%q] must be a string or an array of strings", envelope.Clip(name))
		}
		out[name] = queryClaim{values: []string{s}}
	}
	return out, nil
}

func referenceScalarText(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case json.Number:
		return string(s), true
	case bool:
		return strconv.FormatBool(s), true
	}
	return "", false
}

func referenceTypeName(v any) string {
	if phrase, ok := jsonTypePhrases[strictjson.TypeOf(v)]; ok {
		return phrase
	}
	return fmt.Sprintf("%T", v)
}

// tokenOf wraps header and payload texts in a compact JWS with a dummy
// signature: parsing never looks at it.
func tokenOf(header, payload string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload)) + ".c2ln"
}

// requireSameDecoding fails unless Parse and the map-based reference agree
// on value: the same claims and header, or the same reason and Detail. The
// reference walks maps in random order, so where it names one of several
// wrong members its Detail may vary: the one-pass Detail (the first wrong
// member in the document) must then be one the reference could give.
func requireSameDecoding(t *testing.T, value string) {
	t.Helper()
	tok, rej := Parse(value)
	ref, refRej := referenceParse(value)
	if (rej == nil) != (refRej == nil) {
		t.Fatalf("%q: one-pass refusal %+v, reference refusal %+v", value, rej, refRej)
	}
	if rej == nil {
		// The released tokens the pool hands back make every later Parse
		// here one on a reused token.
		defer tok.Release()
		if got, want := parsedParts(tok), parsedParts(ref); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: one-pass token %+v, reference %+v", value, got, want)
		}
		return
	}
	if rej.Reason != refRej.Reason {
		t.Fatalf("%q: one-pass reason %s (%s), reference %s (%s)", value, rej.Reason, rej.Detail, refRej.Reason, refRej.Detail)
	}
	if rej.Detail != refRej.Detail && !referenceDetails(value, refRej.Detail)[rej.Detail] {
		t.Fatalf("%q: one-pass Detail %q, not one the reference could give (it gave %q)", value, rej.Detail, refRej.Detail)
	}
}

// referenceDetails are the Details the reference could have given for
// value in another map order, beside the one it gave: the other foreign
// header members, or the other wrong queryParams entries. Nothing else
// the reference reports depends on the order.
func referenceDetails(value, gave string) map[string]bool {
	tok := new(Token)
	if _, rej := tok.split(value); rej != nil {
		return nil
	}
	foreign := map[string]bool{}
	if header, err := strictjson.Parse(tok.header, nil); err == nil {
		for name := range header {
			if !allowedHeaderMembers[name] {
				foreign[fmt.Sprintf("the token header may hold only alg, kid and typ; %q is not allowed", envelope.Clip(name))] = true
			}
		}
	}
	wrongQuery := map[string]bool{}
	if payload, err := strictjson.Parse(tok.payload, nil); err == nil {
		query, _ := payload["queryParams"].(map[string]any)
		for name, val := range query {
			if _, rej := referenceQueryParams(map[string]any{name: val}); rej != nil {
				wrongQuery[rej.Detail] = true
			}
		}
	}
	for _, set := range []map[string]bool{foreign, wrongQuery} {
		if set[gave] {
			return set
		}
	}
	return nil
}

// parsedParts is what parsing put in t, without the document and buffer
// it used to get there.
func parsedParts(t *Token) Token {
	parts := *t
	parts.doc, parts.buf, parts.released = strictjson.Document{}, nil, false
	return parts
}

// decodingSeeds are header and payload texts around every rule.
var decodingSeeds = [][2]string{
	{`{"alg":"ES256","kid":"k","typ":"JWT"}`, `{"aud":"checkout","iat":1700000000,"exp":1700000300,"method":"POST","path":"/checkout/manage"}`},
	{`{"alg":"ES384"}`, `{"aud":["a","b"],"iat":1.5,"exp":2e9,"nbf":-0.25,"bodyHash":"abc","queryParams":{"a":"1","b":["x",2,true],"c":3.5,"d":false,"e":[]}}`},
	{`{"alg":"ES256","jwk":{},"x5u":"u","crit":["b64"]}`, `{"aud":[],"iat":0,"exp":0}`},
	{`{"alg":"","kid":""}`, `{"iat":"1","exp":null}`},
	{`{"alg":1,"kid":2,"typ":"jwt"}`, `{"aud":1,"iat":true,"exp":{},"nbf":[],"method":1,"path":null,"bodyHash":[]}`},
	{`{"alg":"ES256","typ":null}`, `{"aud":[1,"a",null],"iat":1e400,"exp":-1e400,"nbf":1e-400}`},
	{`{"alg":"ES256","alg":"ES384"}`, `{"iat":1,"exp":2,"queryParams":{"a":{},"b":[[]],"c":null,"d":["x",{}]}}`},
	{`{"alg":"ES256","kid":"\u00e9\ud83d\ude00","typ":"\u004aWT"}`, `{"iat":1,"exp":2,"queryParams":{"a":"1","a":"2"}}`},
	{`{"alg":"ES256","k\u0069d":"k","kid":"x"}`, `{"iat":1,"exp":2,"x":{"y":{"z":[1,{"y":1,"y":2}]}}}`},
	{"\xef\xbb\xbf{\"alg\":\"ES256\"}", `{"iat":1,"exp":2,"s":"\ud800"}`},
	{`{"alg":"ES256"} {}`, "{\"iat\":1,\"exp\":2,\"s\":\"\xff\"}"},
	{`[]`, `{"iat":1,"exp":2} `},
	{` {"alg" : "ES256" } `, "\t{\"iat\" :01,\"exp\":2}"},
	{`{"alg":"ES256","kid":"` + strings.Repeat("k", 300) + `"}`, `{"iat":1,"exp":2,"queryParams":"a=1"}`},
	{`{"alg":"ES256"}`, `{"iat":1,"exp":2,"deep":` + strings.Repeat("[", 31) + strings.Repeat("]", 31) + `}`},
	{`{"alg":"ES256"}`, `{"iat":1,"exp":2,"deep":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}`},
	{`{"alg":"ES256"}`, `{"iat":1,"exp":2,"queryParams":{"a":` + strings.Repeat("[", 31) + strings.Repeat("]", 31) + `}}`},
	{`{"alg":"ES256"}`, `{"iat":1,"exp":2,"queryParams":{"a":[` + strings.Repeat("{\"x\":", 30) + "1" + strings.Repeat("}", 30) + `]}}`},
	{`{"alg":"ES256"}`, `{"iat":1,"exp":2,"m":{` + manyMembers(40) + `}}`},
	{`{"alg":"ES256"}`, `{"iat":1,"exp":2,"m":{` + manyMembers(40) + `,"k7":0}}`},
	{`{"alg":"ES256"}`, `{"iat":1,"exp":2,"queryParams":{"b":[1,null],"a":{},"c":null}}`},
	{`{"alg":"ES256","b":1,"a":2,"c":3}`, `{}`},
	{`{"alg":"ES256"}`, `{"aud":"a","iat":1,"exp":2,"method":"GET","path":"/p","bodyHash":"h","nbf":1,"extra":[true,false,null,"s",-0.0e+1]}`},
	{``, ` `},
	{`{`, `{"iat":1,"exp":2,}`},
	{`{"alg":"ES256",}`, `{"iat":1,"exp":2 "x":1}`},
	{`{"alg":tru}`, `{"iat":-,"exp":1.}`},
}

func manyMembers(n int) string {
	members := make([]string, n)
	for i := range members {
		members[i] = fmt.Sprintf(`"k%d":%d`, i, i)
	}
	return strings.Join(members, ",")
}

// TestTokenDecodingMatchesMaps holds the Document-based parse to the map-based
// reference on the seeds and on random mutations of them.
func TestTokenDecodingMatchesMaps(t *testing.T) {
	for _, seed := range fuzzTokenSeeds(t) {
		requireSameDecoding(t, seed)
	}
	rng := rand.New(rand.NewSource(17))
	for _, seed := range decodingSeeds {
		requireSameDecoding(t, tokenOf(seed[0], seed[1]))
		for range 400 {
			requireSameDecoding(t, tokenOf(mutateJSON(rng, seed[0]), mutateJSON(rng, seed[1])))
			requireSameDecoding(t, tokenOf(`{"alg":"ES256"}`, mutateJSON(rng, seed[1])))
		}
	}
}

// FuzzTokenDecodingMatchesMaps is TestTokenDecodingMatchesMaps for the
// fuzzer, on the header and payload texts.
func FuzzTokenDecodingMatchesMaps(f *testing.F) {
	for _, seed := range decodingSeeds {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, header, payload string) {
		requireSameDecoding(t, tokenOf(header, payload))
	})
}

// fuzzTokenSeeds are FuzzParseToken's seeds.
func fuzzTokenSeeds(t testing.TB) []string {
	good := newTestSigner(t, "ES256").signRaw(t, `{"alg":"ES256","kid":"k","typ":"JWT"}`, requestClaimsJSON(t))
	return []string{good, good + ".", "a.b.c", "e30.e30.e30", "eyJhbGciOiJub25lIn0.e30.", strings.Replace(good, ".", "=.", 1)}
}

// jsonFragments are what mutations splice in: structure, escapes, bad
// bytes and the members the decoder types.
var jsonFragments = []string{
	`"`, `\`, `{`, `}`, `[`, `]`, `,`, `:`, ` `, `\u`, `\ud800`, `\udc00`, `\ud83d\ude00`, `\n`, "\xff", "\xef\xbb\xbf", "\x01",
	`0`, `-`, `.5`, `e9`, `1e999`, `"x"`, `null`, `true`, `false`, `{}`, `[]`, `[1,"a"]`, `{"a":1}`,
	`"aud":`, `"iat":`, `"exp":`, `"nbf":`, `"method":`, `"path":`, `"bodyHash":`, `"queryParams":`, `"alg":`, `"kid":`, `"typ":`,
}

func mutateJSON(rng *rand.Rand, s string) string {
	b := []byte(s)
	for range 1 + rng.Intn(3) {
		at := 0
		if len(b) > 0 {
			at = rng.Intn(len(b) + 1)
		}
		switch op := rng.Intn(4); {
		case op == 0 && at < len(b):
			b = append(b[:at:at], b[at+1:]...)
		case op == 1 && at < len(b):
			b[at] ^= byte(1 << rng.Intn(8))
		case op == 2 && at < len(b):
			end := at + rng.Intn(len(b)-at) + 1
			b = append(b[:end:end], append(append([]byte{}, b[at:end]...), b[end:]...)...)
		default:
			b = append(b[:at:at], append([]byte(jsonFragments[rng.Intn(len(jsonFragments))]), b[at:]...)...)
		}
	}
	return string(b)
}

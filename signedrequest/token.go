package signedrequest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/strictjson"
)

// maxTokenSize bounds the Api-Signature header before any decoding.
const maxTokenSize = 8 << 10

// Token is an Api-Signature JWS taken apart, with nothing verified yet.
type Token struct {
	alg          string
	kid          string
	signingInput []byte // header.payload exactly as received: what was signed
	signature    []byte
	header       []byte // decoded protected header, for the replay key
	payload      []byte // decoded payload, for the replay key
	claims       Claims
}

// Claims holds the payload's members with their JSON types checked.
type Claims struct {
	audience     []string
	issuedAt     float64
	expiresAt    float64
	notBefore    float64
	hasNotBefore bool
	method       string
	hasMethod    bool
	path         string
	hasPath      bool
	bodyHash     string
	hasBodyHash  bool
	queryParams  map[string]queryClaim
	hasQuery     bool
}

// queryClaim is one queryParams entry: every value of the name in order
// (every, from an array), or the one value of a name the query has once.
type queryClaim struct {
	values []string
	every  bool
}

// allowedHeaderMembers is the protected header allow-list: anything else
// (jwk, jku, x5u, x5c, crit, b64, cty, zip, ...) either lets the token pick
// its own key or changes how it must be processed, and is refused.
var allowedHeaderMembers = map[string]bool{"alg": true, "kid": true, "typ": true}

// tokenMemberNames are the header members and claims the gateway reads.
var tokenMemberNames = strictjson.NewMemberNames("alg", "kid", "typ", "aud", "iat", "exp", "nbf", "method", "path", "bodyHash", "queryParams")

// Alg is the header's alg, not yet checked against any policy.
func (t *Token) Alg() string { return t.alg }

// Kid is the header's kid, or "" when the token has none.
func (t *Token) Kid() string { return t.kid }

// Header is the decoded protected header, as received.
func (t *Token) Header() []byte { return t.header }

// Payload is the decoded payload, as received.
func (t *Token) Payload() []byte { return t.payload }

// Claims are the payload's typed claims.
func (t *Token) Claims() *Claims { return &t.claims }

// ExpiresAt is the exp claim as a time, to the nanosecond.
func (t *Token) ExpiresAt() time.Time { return time.Unix(0, int64(t.claims.expiresAt*1e9)) }

// Parse checks that value is a canonical compact JWS whose header and
// payload are strict JSON objects, and types every header member and claim.
// The JWS JSON serialisation, unpadded-base64 variants, nested tokens and
// string dates are all refused here, whatever the JOSE library would accept.
func Parse(value string) (*Token, *envelope.Rejection) {
	if len(value) > maxTokenSize {
		return nil, envelope.Reject(envelope.ReasonTokenMalformed, "the Api-Signature header is over %d bytes", maxTokenSize)
	}
	raw := []byte(value)
	first := bytes.IndexByte(raw, '.')
	last := bytes.LastIndexByte(raw, '.')
	if first < 0 || first == last || bytes.Count(raw, []byte{'.'}) != 2 {
		return nil, envelope.Reject(envelope.ReasonTokenMalformed, "Api-Signature is not a compact JWS: it must have exactly three dot-separated parts")
	}
	header, err := decodeSegment(raw[:first])
	if err != nil {
		return nil, envelope.Reject(envelope.ReasonTokenMalformed, "the token header is not unpadded base64url")
	}
	payload, err := decodeSegment(raw[first+1 : last])
	if err != nil {
		return nil, envelope.Reject(envelope.ReasonTokenMalformed, "the token payload is not unpadded base64url")
	}
	signature, err := decodeSegment(raw[last+1:])
	if err != nil || len(signature) == 0 {
		return nil, envelope.Reject(envelope.ReasonTokenMalformed, "the token signature is not unpadded base64url")
	}
	tok := &Token{signingInput: raw[:last], signature: signature, header: header, payload: payload}
	if rej := tok.parseHeader(); rej != nil {
		return nil, rej
	}
	if rej := tok.parseClaims(); rej != nil {
		return nil, rej
	}
	return tok, nil
}

// decodeSegment accepts only the canonical unpadded base64url form, so that
// one token has exactly one spelling.
func decodeSegment(seg []byte) ([]byte, error) {
	out := make([]byte, base64.RawURLEncoding.Strict().DecodedLen(len(seg)))
	n, err := base64.RawURLEncoding.Strict().Decode(out, seg)
	if err != nil {
		return nil, err
	}
	return out[:n], nil
}

func (t *Token) parseHeader() *envelope.Rejection {
	h, err := strictjson.Parse(t.header, tokenMemberNames)
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

func (t *Token) parseClaims() *envelope.Rejection {
	m, err := strictjson.Parse(t.payload, tokenMemberNames)
	if err != nil {
		return envelope.Reject(envelope.ReasonTokenMalformed, "the token payload is not a strict JSON object: %s", strictjson.Rule(err))
	}
	c := &t.claims
	switch aud := m["aud"].(type) {
	case string:
		c.audience = []string{aud}
	case []any:
		for _, a := range aud {
			s, ok := a.(string)
			if !ok {
				return envelope.Reject(envelope.ReasonClaimType, "aud must be a string or an array of strings")
			}
			c.audience = append(c.audience, s)
		}
	case nil:
		if _, present := m["aud"]; present {
			return envelope.Reject(envelope.ReasonClaimType, "aud must be a string or an array of strings")
		}
	default:
		return envelope.Reject(envelope.ReasonClaimType, "aud must be a string or an array of strings")
	}
	var rej *envelope.Rejection
	if c.issuedAt, _, rej = numericDate(m, "iat", true); rej != nil {
		return rej
	}
	if c.expiresAt, _, rej = numericDate(m, "exp", true); rej != nil {
		return rej
	}
	if c.notBefore, c.hasNotBefore, rej = numericDate(m, "nbf", false); rej != nil {
		return rej
	}
	if c.method, c.hasMethod, rej = stringClaim(m, "method"); rej != nil {
		return rej
	}
	if c.path, c.hasPath, rej = stringClaim(m, "path"); rej != nil {
		return rej
	}
	if c.bodyHash, c.hasBodyHash, rej = stringClaim(m, "bodyHash"); rej != nil {
		return rej
	}
	if v, present := m["queryParams"]; present {
		q, rej := queryParamsClaim(v)
		if rej != nil {
			return rej
		}
		c.queryParams, c.hasQuery = q, true
	}
	return nil
}

// numericDate reads a NumericDate: a JSON number of seconds, possibly
// fractional. Strings are refused even when they hold digits.
func numericDate(m map[string]any, name string, required bool) (float64, bool, *envelope.Rejection) {
	v, present := m[name]
	if !present {
		if required {
			return 0, false, envelope.Reject(envelope.ReasonClaimMissing, "the token has no %s claim", name)
		}
		return 0, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, false, envelope.Reject(envelope.ReasonClaimType, "%s must be a number of seconds, not %s", name, jsonTypeName(v))
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false, envelope.Reject(envelope.ReasonClaimType, "%s is not a representable number of seconds", name)
	}
	return f, true, nil
}

func stringClaim(m map[string]any, name string) (string, bool, *envelope.Rejection) {
	v, present := m[name]
	if !present {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", false, envelope.Reject(envelope.ReasonClaimType, "%s must be a string, not %s", name, jsonTypeName(v))
	}
	return s, true, nil
}

// queryParamsClaim accepts both forms clients build: a string for a name
// the query has once, or an array of strings (every value in order), which a
// repeated name needs: a single string would bind one value while the
// upstream may read another. Numbers and booleans stand for their JSON text.
func queryParamsClaim(v any) (map[string]queryClaim, *envelope.Rejection) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, envelope.Reject(envelope.ReasonClaimType, "queryParams must be an object, not %s", jsonTypeName(v))
	}
	out := make(map[string]queryClaim, len(obj))
	for name, val := range obj {
		if arr, isArr := val.([]any); isArr {
			values := make([]string, 0, len(arr))
			for _, item := range arr {
				s, ok := scalarText(item)
				if !ok {
					return nil, envelope.Reject(envelope.ReasonClaimType, "queryParams[%q] must hold strings", envelope.Clip(name))
				}
				values = append(values, s)
			}
			out[name] = queryClaim{values: values, every: true}
			continue
		}
		s, ok := scalarText(val)
		if !ok {
			return nil, envelope.Reject(envelope.ReasonClaimType, "queryParams[%q] must be a string or an array of strings", envelope.Clip(name))
		}
		out[name] = queryClaim{values: []string{s}}
	}
	return out, nil
}

func scalarText(v any) (string, bool) {
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

// jsonTypePhrases names each JSON type as a Detail does.
var jsonTypePhrases = map[strictjson.Types]string{
	strictjson.Null: "null", strictjson.Boolean: "a boolean", strictjson.Number: "a number",
	strictjson.String: "a string", strictjson.Array: "an array", strictjson.Object: "an object",
}

func jsonTypeName(v any) string {
	if phrase, ok := jsonTypePhrases[strictjson.TypeOf(v)]; ok {
		return phrase
	}
	return fmt.Sprintf("%T", v)
}

package signedrequest

import (
	"encoding/base64"
	"math"
	"strconv"
	"strings"
	"sync"
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

	// What parsing needs: the document is part of the token, and Release
	// keeps it and the buffer, so that parsing into a released token
	// allocates neither again.
	doc      strictjson.Document // the header, then the payload
	buf      []byte              // the token as received, then its decoded parts
	released bool
}

// Claims holds the payload's members with their JSON types checked.
type Claims struct {
	audience     []string
	audienceRoom [1]string // holds the usual single audience in place
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

// Alg is the header's alg, not yet checked against any policy.
func (t *Token) Alg() string { return t.alg }

// Kid is the header's kid, or "" when the token has none.
func (t *Token) Kid() string { return t.kid }

// Header is the decoded protected header, as received.
func (t *Token) Header() []byte { return t.header }

// Payload is the decoded payload, as received.
func (t *Token) Payload() []byte { return t.payload }

// Claims are the payload's typed claims, part of the token: they are
// valid until Release.
func (t *Token) Claims() *Claims { return &t.claims }

// ExpiresAt is the exp claim as a time, to the nanosecond.
func (t *Token) ExpiresAt() time.Time { return time.Unix(0, int64(t.claims.expiresAt*1e9)) }

// Parse checks that value is a canonical compact JWS whose header and
// payload are strict JSON objects, and types every header member and claim.
// The JWS JSON serialisation, unpadded-base64 variants, nested tokens and
// string dates are all refused here, whatever the JOSE library would accept.
//
// The token comes from a pool: a caller that is done with it, and keeps
// none of its byte slices, gives it back with Release.
func Parse(value string) (*Token, *envelope.Rejection) {
	tok := tokens.Get().(*Token)
	tok.released = false
	rej := tok.parse(value)
	if rej != nil {
		tok.Release()
		return nil, rej
	}
	return tok, nil
}

func (t *Token) parse(value string) *envelope.Rejection {
	text, rej := t.split(value)
	if rej != nil {
		return rej
	}
	if rej := t.parseHeader(text[:len(t.header)]); rej != nil {
		return rej
	}
	return t.parseClaims(text[len(t.header):])
}

// tokens holds released tokens, each with its document and buffer.
var tokens = sync.Pool{New: func() any { return new(Token) }}

// maxPooledBuffer bounds the buffer a released token keeps, room for a
// token of about 2,300 characters: one token near maxTokenSize should not
// pin its memory in the pool.
const maxPooledBuffer = 4 << 10

// Release gives t back for another Parse. Its strings stay valid, since
// they are never slices of the buffer; its byte slices (SigningInput,
// Header, Payload) and its Claims do not, and nothing of it may be used
// afterwards. A second Release of the same parse does nothing as long as
// no Parse has taken the token from the pool in between: a slip in the
// releasing goroutine does not hand one token to two parses, but a
// Release racing another goroutine's Parse is still a bug.
func (t *Token) Release() {
	if t.released {
		return
	}
	buf := t.buf
	if cap(buf) > maxPooledBuffer {
		buf = nil
	}
	doc := t.doc
	doc.Reset()
	*t = Token{doc: doc, buf: buf[:0], released: true}
	tokens.Put(t)
}

// split takes a canonical compact JWS apart into t's decoded parts, with
// nothing typed or verified yet. One buffer holds the token as received
// and, after it, the decoded header, payload and signature. text is the
// header and payload as one string, so that every plain string in them
// can be a substring of it rather than a copy.
func (t *Token) split(value string) (text string, rej *envelope.Rejection) {
	if len(value) > maxTokenSize {
		return "", envelope.Reject(envelope.ReasonTokenMalformed, "the Api-Signature header is over %d bytes", maxTokenSize)
	}
	// Three forward searches: each is vectorised, a backward one is not.
	first := strings.IndexByte(value, '.')
	last := first + 1 + strings.IndexByte(value[first+1:], '.')
	if first < 0 || last == first || strings.IndexByte(value[last+1:], '.') >= 0 {
		return "", envelope.Reject(envelope.ReasonTokenMalformed, "Api-Signature is not a compact JWS: it must have exactly three dot-separated parts")
	}
	if need := len(value) + segmentEncoding.DecodedLen(len(value)); cap(t.buf) < need {
		t.buf = make([]byte, 0, need)
	}
	var buf []byte
	raw := append(t.buf[:0], value...)
	buf, t.header, rej = decodeSegment(raw, raw[:first], "header")
	if rej != nil {
		return "", rej
	}
	buf, t.payload, rej = decodeSegment(buf, raw[first+1:last], "payload")
	if rej != nil {
		return "", rej
	}
	buf, t.signature, rej = decodeSegment(buf, raw[last+1:], "signature")
	if rej == nil && len(t.signature) == 0 {
		rej = envelope.Reject(envelope.ReasonTokenMalformed, "the token signature is not unpadded base64url")
	}
	if rej != nil {
		return "", rej
	}
	t.signingInput = raw[:last:last]
	return string(buf[len(raw) : len(raw)+len(t.header)+len(t.payload)]), nil
}

// segmentEncoding accepts only the canonical unpadded base64url form, so
// that one token has exactly one spelling.
var segmentEncoding = base64.RawURLEncoding.Strict()

// decodeSegment appends the decoded seg to buf, which has room for it,
// and returns it as its own slice too, capped so that it cannot grow into
// what follows.
func decodeSegment(buf, seg []byte, part string) (grown, decoded []byte, rej *envelope.Rejection) {
	start := len(buf)
	buf, err := segmentEncoding.AppendDecode(buf, seg)
	if err != nil {
		return nil, nil, envelope.Reject(envelope.ReasonTokenMalformed, "the token %s is not unpadded base64url", part)
	}
	return buf, buf[start:len(buf):len(buf)], nil
}

// parseHeader reads the header. Typing problems are judged only once the
// whole header has proved strict JSON, so that a document breaking a
// strictness rule is always refused for that.
func (t *Token) parseHeader(text string) *envelope.Rejection {
	if err := t.doc.ParseShared(t.header, text); err != nil {
		return envelope.Reject(envelope.ReasonTokenMalformed, "the token header is not a strict JSON object: %s", strictjson.Rule(err))
	}
	var alg, kid, typ member
	for name, value := range t.doc.Root().Members() {
		switch name {
		case "alg":
			alg = member{value, true}
		case "kid":
			kid = member{value, true}
		case "typ":
			typ = member{value, true}
		default:
			// Any other member (jwk, jku, x5u, x5c, crit, b64, cty, zip,
			// ...) either lets the token pick its own key or changes how
			// it must be processed.
			return envelope.Reject(envelope.ReasonTokenHeader, "the token header may hold only alg, kid and typ; %q is not allowed", envelope.Clip(name))
		}
	}
	if !alg.isNonEmptyString() {
		return envelope.Reject(envelope.ReasonTokenHeader, "the token header's alg must be a non-empty string")
	}
	t.alg = alg.value.Text()
	if kid.present {
		if !kid.isNonEmptyString() {
			return envelope.Reject(envelope.ReasonTokenHeader, "the token header's kid must be a non-empty string")
		}
		t.kid = kid.value.Text()
	}
	if typ.present && (typ.value.Type() != strictjson.String || typ.value.Text() != "JWT") {
		return envelope.Reject(envelope.ReasonTokenHeader, "the token header's typ must be JWT")
	}
	return nil
}

// member is a header member or claim the document may or may not have.
type member struct {
	value   strictjson.Node
	present bool
}

func (m member) isNonEmptyString() bool {
	return m.present && m.value.Type() == strictjson.String && m.value.Text() != ""
}

// parseClaims reads the payload into Claims. Each claim's typing problem
// is kept, and the first in the fixed order aud, iat, exp, nbf, method,
// path, bodyHash, queryParams is reported once the whole payload has
// proved strict JSON.
func (t *Token) parseClaims(text string) *envelope.Rejection {
	if err := t.doc.ParseShared(t.payload, text); err != nil {
		return envelope.Reject(envelope.ReasonTokenMalformed, "the token payload is not a strict JSON object: %s", strictjson.Rule(err))
	}
	c := &t.claims
	var problems [claimCount]*envelope.Rejection
	var iat, exp, nbf member
	for name, value := range t.doc.Root().Members() {
		switch name {
		case "aud":
			problems[claimAud] = c.audienceClaim(value)
		case "iat":
			iat = member{value, true}
		case "exp":
			exp = member{value, true}
		case "nbf":
			nbf = member{value, true}
		case "method":
			c.method, c.hasMethod, problems[claimMethod] = stringClaim(value, name)
		case "path":
			c.path, c.hasPath, problems[claimPath] = stringClaim(value, name)
		case "bodyHash":
			c.bodyHash, c.hasBodyHash, problems[claimBodyHash] = stringClaim(value, name)
		case "queryParams":
			c.hasQuery = true
			c.queryParams, problems[claimQuery] = queryParamsClaim(value)
		}
	}
	problems[claimIat] = iat.seconds("iat", true, &c.issuedAt)
	problems[claimExp] = exp.seconds("exp", true, &c.expiresAt)
	problems[claimNbf] = nbf.seconds("nbf", false, &c.notBefore)
	c.hasNotBefore = nbf.present && problems[claimNbf] == nil
	for _, rej := range problems {
		if rej != nil {
			return rej
		}
	}
	return nil
}

// The claims in the order their problems are reported.
const (
	claimAud = iota
	claimIat
	claimExp
	claimNbf
	claimMethod
	claimPath
	claimBodyHash
	claimQuery
	claimCount
)

func audienceProblem() *envelope.Rejection {
	return envelope.Reject(envelope.ReasonClaimType, "aud must be a string or an array of strings")
}

// audienceClaim reads aud into c.audience.
func (c *Claims) audienceClaim(aud strictjson.Node) *envelope.Rejection {
	switch aud.Type() {
	case strictjson.String:
		c.addAudience(aud.Text())
		return nil
	case strictjson.Array:
		for item := range aud.Items() {
			if item.Type() != strictjson.String {
				c.audience = nil
				return audienceProblem()
			}
			c.addAudience(item.Text())
		}
		return nil
	}
	return audienceProblem()
}

// addAudience appends one audience, the first in c's own room.
func (c *Claims) addAudience(s string) {
	if c.audience == nil {
		c.audience = c.audienceRoom[:0]
	}
	c.audience = append(c.audience, s)
}

// seconds reads a NumericDate: a JSON number of seconds, possibly
// fractional. Strings are refused even when they hold digits.
func (n member) seconds(name string, required bool, into *float64) *envelope.Rejection {
	if !n.present {
		if required {
			return envelope.Reject(envelope.ReasonClaimMissing, "the token has no %s claim", name)
		}
		return nil
	}
	if kind := n.value.Type(); kind != strictjson.Number {
		return envelope.Reject(envelope.ReasonClaimType, "%s must be a number of seconds, not %s", name, jsonTypePhrases[kind])
	}
	if f, whole := wholeSeconds(n.value.Text()); whole {
		*into = f
		return nil
	}
	f, err := strconv.ParseFloat(n.value.Text(), 64)
	if err != nil || math.IsInf(f, 0) {
		return envelope.Reject(envelope.ReasonClaimType, "%s is not a representable number of seconds", name)
	}
	*into = f
	return nil
}

// wholeSeconds reads the form nearly every token's dates take, up to 15
// digits and nothing else, without ParseFloat: such a number is below
// 2^53, so the float64 is exactly the one ParseFloat gives.
func wholeSeconds(text string) (float64, bool) {
	if text == "" || len(text) > 15 {
		return 0, false
	}
	var n uint64
	for i := range len(text) {
		d := text[i] - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + uint64(d)
	}
	return float64(n), true
}

func stringClaim(n strictjson.Node, name string) (string, bool, *envelope.Rejection) {
	if n.Type() != strictjson.String {
		return "", false, envelope.Reject(envelope.ReasonClaimType, "%s must be a string, not %s", name, jsonTypePhrases[n.Type()])
	}
	return n.Text(), true, nil
}

// queryParamsClaim accepts both forms clients build: a string for a name
// the query has once, or an array of strings (every value in order), which a
// repeated name needs: a single string would bind one value while the
// upstream may read another. Numbers and booleans stand for their JSON text.
// Of several wrong entries, the first in the document is reported.
func queryParamsClaim(n strictjson.Node) (map[string]queryClaim, *envelope.Rejection) {
	if n.Type() != strictjson.Object {
		return nil, envelope.Reject(envelope.ReasonClaimType, "queryParams must be an object, not %s", jsonTypePhrases[n.Type()])
	}
	out := make(map[string]queryClaim, n.Len())
	for name, value := range n.Members() {
		if value.Type() != strictjson.Array {
			s, ok := scalarText(value)
			if !ok {
				return nil, envelope.Reject(envelope.ReasonClaimType, "queryParams[%q] must be a string or an array of strings", envelope.Clip(name))
			}
			out[name] = queryClaim{values: []string{s}}
			continue
		}
		values := make([]string, 0, value.Len())
		for item := range value.Items() {
			s, ok := scalarText(item)
			if !ok {
				return nil, envelope.Reject(envelope.ReasonClaimType, "queryParams[%q] must hold strings", envelope.Clip(name))
			}
			values = append(values, s)
		}
		out[name] = queryClaim{values: values, every: true}
	}
	return out, nil
}

// scalarText is the text a string, number or boolean stands for; ok is
// false for any other value.
func scalarText(n strictjson.Node) (text string, ok bool) {
	switch n.Type() {
	case strictjson.String, strictjson.Number, strictjson.Boolean:
		return n.Text(), true
	}
	return "", false
}

// jsonTypePhrases names each JSON type as a Detail does.
var jsonTypePhrases = map[strictjson.Types]string{
	strictjson.Null: "null", strictjson.Boolean: "a boolean", strictjson.Number: "a number",
	strictjson.String: "a string", strictjson.Array: "an array", strictjson.Object: "an object",
}

package jsonbody

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/message"

	"github.com/checkoutgw/checkoutgw/internal/asciiword"
	"github.com/checkoutgw/checkoutgw/strictjson"
)

// bodyVocabularyURL names the gateway's own keywords for body schemas.
const bodyVocabularyURL = "https://github.com/checkoutgw/checkoutgw/vocab/body"

// todayBound stands for the current date in a dateMinimum or dateMaximum.
const todayBound = "today"

// bodyVocabulary adds assertions JSON Schema has no keyword for (README,
// "The body contract"):
//
//   - "plainText": true: a string holds no C0 or C1 control character and
//     no bidirectional formatting character.
//   - "dateMinimum", "dateMaximum": a YYYY-MM-DD date or "today": a date
//     string is not before, or not after, that date. "today" is read from
//     now at every validation, in UTC, so a compiled schema never goes stale.
//   - "dateOrder": [["A","B"], ...]: in an object holding dates A and B, B
//     is not before A.
//
// As with JSON Schema's own keywords, a value of another type, or a string
// that is no date, passes: type and format are there to refuse it.
func bodyVocabulary(now func() time.Time) *jsonschema.Vocabulary {
	return &jsonschema.Vocabulary{
		URL: bodyVocabularyURL,
		Compile: func(_ *jsonschema.CompilerContext, obj map[string]any) (jsonschema.SchemaExt, error) {
			return compileBodyKeywords(obj, now)
		},
	}
}

// bodyKeywords is one schema object's keywords of bodyVocabulary.
type bodyKeywords struct {
	plainText bool
	earliest  dateBound
	latest    dateBound
	ordered   [][2]string
	now       func() time.Time
}

// dateBound is a dateMinimum or dateMaximum: a fixed date, today, or none.
type dateBound struct {
	spelt string // "" when the keyword is absent
	fixed calendarDate
}

func (b dateBound) on(now func() time.Time) calendarDate {
	if b.spelt != todayBound {
		return b.fixed
	}
	y, m, d := now().UTC().Date()
	return newCalendarDate(y, int(m), d)
}

func compileBodyKeywords(obj map[string]any, now func() time.Time) (jsonschema.SchemaExt, error) {
	k := &bodyKeywords{now: now}
	present := false
	if v, ok := obj["plainText"]; ok {
		present = true
		if k.plainText, ok = v.(bool); !ok {
			return nil, errors.New("plainText must be true or false")
		}
	}
	for name, bound := range map[string]*dateBound{"dateMinimum": &k.earliest, "dateMaximum": &k.latest} {
		v, ok := obj[name]
		if !ok {
			continue
		}
		present = true
		s, _ := v.(string)
		fixed, isDate := parseDate(s)
		if !isDate && s != todayBound {
			return nil, fmt.Errorf("%s must be a date written YYYY-MM-DD or %q", name, todayBound)
		}
		*bound = dateBound{spelt: s, fixed: fixed}
	}
	if v, ok := obj["dateOrder"]; ok {
		present = true
		pairs, err := datePairs(v)
		if err != nil {
			return nil, err
		}
		k.ordered = pairs
	}
	if !present {
		return nil, nil
	}
	return k, nil
}

func datePairs(v any) ([][2]string, error) {
	errShape := errors.New(`dateOrder must be a list of pairs of property names, such as [["IssuedDate","ExpiryDate"]]`)
	list, ok := v.([]any)
	if !ok {
		return nil, errShape
	}
	pairs := make([][2]string, len(list))
	for i, item := range list {
		pair, ok := item.([]any)
		if !ok || len(pair) != 2 {
			return nil, errShape
		}
		first, firstOK := pair[0].(string)
		second, secondOK := pair[1].(string)
		if !firstOK || !secondOK {
			return nil, errShape
		}
		pairs[i] = [2]string{first, second}
	}
	return pairs, nil
}

// Validate reports every fault to jsonschema.
func (k *bodyKeywords) Validate(ctx *jsonschema.ValidatorContext, v any) {
	switch value := v.(type) {
	case string:
		k.checkString(value, ctx.AddError)
	case map[string]any:
		k.checkObject(func(name string) string {
			s, _ := value[name].(string)
			return s
		}, ctx.AddError)
	}
}

var _ fastKeyword = (*bodyKeywords)(nil)

// accepts is the fast checker's form: no report, no allocation.
func (k *bodyKeywords) accepts(v strictjson.Node) bool {
	ok := true
	refuse := func(jsonschema.ErrorKind) { ok = false }
	switch v.Type() {
	case strictjson.String:
		k.checkString(v.Text(), refuse)
	case strictjson.Object:
		k.checkObject(func(name string) string {
			if member, found := v.Member(name); found && member.Type() == strictjson.String {
				return member.Text()
			}
			return ""
		}, refuse)
	}
	return ok
}

func (k *bodyKeywords) checkString(value string, report func(jsonschema.ErrorKind)) {
	if k.plainText && !isPlainText(value) {
		report(&formattingCharacters{})
	}
	if k.earliest.spelt == "" && k.latest.spelt == "" {
		return
	}
	date, isDate := parseDate(value)
	if !isDate {
		return
	}
	if k.earliest.spelt != "" && date < k.earliest.on(k.now) {
		report(&dateOutOfRange{bound: k.earliest.spelt, tooEarly: true})
	}
	if k.latest.spelt != "" && date > k.latest.on(k.now) {
		report(&dateOutOfRange{bound: k.latest.spelt})
	}
}

// checkObject checks the order of an object's dates; member is a string
// member's value, "" for one that is absent or not a string.
func (k *bodyKeywords) checkObject(member func(name string) string, report func(jsonschema.ErrorKind)) {
	for _, pair := range k.ordered {
		first, firstIsDate := parseDate(member(pair[0]))
		second, secondIsDate := parseDate(member(pair[1]))
		if firstIsDate && secondIsDate && second < first {
			report(&datesOutOfOrder{earlier: pair[0], later: pair[1]})
		}
	}
}

// calendarDate is a day as year*10000 + month*100 + day, so that dates
// compare as integers do.
type calendarDate int

func newCalendarDate(year, month, day int) calendarDate {
	return calendarDate(year*10000 + month*100 + day)
}

// parseDate reads a date exactly as the "date" format does, which is
// time.Parse(time.DateOnly) (TestParseDateIsTimeParse and its fuzzer hold
// the two together), so that a string the format accepts is always bounded
// here. Reading the ten bytes directly costs a tenth of time.Parse, and a
// body's every date is read by the format and again by its bounds.
func parseDate(s string) (calendarDate, bool) {
	if len(s) != len(time.DateOnly) || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	year, yearOK := digits(s[0:4])
	month, monthOK := digits(s[5:7])
	day, dayOK := digits(s[8:10])
	if !yearOK || !monthOK || !dayOK || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) {
		return 0, false
	}
	return newCalendarDate(year, month, day), true
}

// digits reads a run of decimal digits, all of s.
func digits(s string) (int, bool) {
	n := 0
	for i := range len(s) {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// daysIn is the length of a month of the proleptic Gregorian calendar, as
// the time package reckons it.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// isPlainText reports whether s is free of C0 and C1 control characters
// and of the bidirectional formatting characters that can make a name read
// differently from what it holds.
func isPlainText(s string) bool {
	// Whole words of printable ASCII (DEL excluded) pass at once.
	for i := asciiword.Prefix(s, 0x7f, 0x7f); i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++ // ASCII, nearly every byte of a body: no decoding
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r <= 0x9f || r == 0x061c || r == 0x200e || r == 0x200f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			return false
		}
		i += size
	}
	return true
}

// The faults below carry the client's reason themselves (reasonFor reads
// it); none of them holds the value.

type formattingCharacters struct{}

func (*formattingCharacters) KeywordPath() []string { return []string{"plainText"} }
func (*formattingCharacters) LocalizedString(*message.Printer) string {
	return "must not contain control or bidirectional formatting characters"
}

type dateOutOfRange struct {
	bound    string
	tooEarly bool
}

func (k *dateOutOfRange) KeywordPath() []string {
	if k.tooEarly {
		return []string{"dateMinimum"}
	}
	return []string{"dateMaximum"}
}

func (k *dateOutOfRange) LocalizedString(*message.Printer) string {
	switch {
	case k.bound == todayBound && k.tooEarly:
		return "must not be in the past"
	case k.bound == todayBound:
		return "must not be in the future"
	case k.tooEarly:
		return "must not be before " + k.bound
	}
	return "must not be after " + k.bound
}

// datesOutOfOrder is found on the object but belongs to its later member,
// under whose path violations lists it.
type datesOutOfOrder struct {
	earlier, later string
}

func (*datesOutOfOrder) KeywordPath() []string { return []string{"dateOrder"} }
func (k *datesOutOfOrder) LocalizedString(*message.Printer) string {
	return "must not be before " + k.earlier
}

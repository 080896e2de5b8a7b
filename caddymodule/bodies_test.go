package caddymodule

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/strictjson"
)

// bodyWith is validBody with edit applied to its decoded form.
func bodyWith(edit func(m map[string]any)) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(validBody), &m); err != nil {
		panic(err)
	}
	edit(m)
	return encodeJSON(m)
}

// encodeJSON writes v as compact JSON, leaving <, > and & as they are.
func encodeJSON(v any) string {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return strings.TrimSpace(out.String())
}

func customer(m map[string]any) map[string]any { return m["Customer"].(map[string]any) }
func fullName(m map[string]any) map[string]any { return customer(m)["FullName"].(map[string]any) }
func residence(m map[string]any) map[string]any {
	return customer(m)["PrimaryResidence"].(map[string]any)
}
func identity(m map[string]any, i int) map[string]any {
	return customer(m)["Identities"].([]any)[i].(map[string]any)
}

func set(get func(map[string]any) map[string]any, name string, value any) func(map[string]any) {
	return func(m map[string]any) { get(m)[name] = value }
}

func drop(get func(map[string]any) map[string]any, name string) func(map[string]any) {
	return func(m map[string]any) { delete(get(m), name) }
}

func root(m map[string]any) map[string]any { return m }
func id0(m map[string]any) map[string]any  { return identity(m, 0) }

func all(edits ...func(map[string]any)) func(map[string]any) {
	return func(m map[string]any) {
		for _, e := range edits {
			e(m)
		}
	}
}

func addIdentity(m map[string]any) {
	c := customer(m)
	second := maps.Clone(identity(m, 0))
	c["Identities"] = append(c["Identities"].([]any), second)
}

type bodyCase struct {
	name string
	body string
	// want is the exact set of Extensions.Request keys; empty: accepted.
	want []string
	// why, when set, must be among the reasons given for want[0].
	why string
}

func bodyCases() []bodyCase {
	n := strings.Repeat
	valid := func(name string, edit func(map[string]any)) bodyCase {
		return bodyCase{name: name, body: bodyWith(edit)}
	}
	invalid := func(name string, edit func(map[string]any), why string, keys ...string) bodyCase {
		return bodyCase{name: name, body: bodyWith(edit), want: keys, why: why}
	}
	cases := []bodyCase{
		{name: "the sample body", body: validBody},
		{name: "CustomerID alone", body: `{"CustomerID":"c"}`},
		valid("CustomerID of 36 characters", set(root, "CustomerID", n("a", 36))),
		valid("FirstName of 50 characters", set(fullName, "FirstName", n("a", 50))),
		valid("FirstName of 50 two-byte characters", set(fullName, "FirstName", n("é", 50))),
		valid("FirstName of 50 emoji", set(fullName, "FirstName", n("😀", 50))),
		valid("LastName of 50 characters", set(fullName, "LastName", n("b", 50))),
		valid("MiddleName of 1 character", set(fullName, "MiddleName", "Q")),
		valid("MiddleName of 50 characters", set(fullName, "MiddleName", n("q", 50))),
		valid("Street of 2 characters", set(residence, "Street", "A1")),
		valid("Street of 200 characters", set(residence, "Street", n("s", 200))),
		valid("Street2 of any length", set(residence, "Street2", n("x", 500))),
		valid("City of 100 characters", set(residence, "City", n("c", 100))),
		valid("PostCode of 20 characters", set(residence, "PostCode", n("9", 20))),
		valid("State free text outside US and CA", all(set(residence, "Country", "GB"), set(residence, "State", n("s", 100)))),
		valid("US state DC", set(residence, "State", "DC")),
		valid("US outlying area PR", set(residence, "State", "PR")),
		valid("US outlying area UM", set(residence, "State", "UM")),
		valid("Canadian province ON", all(set(residence, "Country", "CA"), set(residence, "State", "ON"))),
		valid("Canadian territory YT", all(set(residence, "Country", "CA"), set(residence, "State", "YT"))),
		valid("country AX", set(residence, "Country", "AX")),
		valid("IDNumber of 36 characters", set(id0, "IDNumber", n("7", 36))),
		valid("leap day", set(customer, "DateOfBirth", "2024-02-29")),
		valid("no optional identity dates", all(drop(id0, "IssuedDate"), drop(id0, "ExpiryDate"))),
		valid("no identities listed", set(customer, "Identities", []any{})),
		valid("two identities", addIdentity),
		valid("DateOfBirth 1900-01-01", set(customer, "DateOfBirth", "1900-01-01")),
		valid("ExpiryDate the IssuedDate", set(id0, "ExpiryDate", "2019-03-01")),
		valid("ExpiryDate early without IssuedDate", all(drop(id0, "IssuedDate"), set(id0, "ExpiryDate", "1990-01-01"))),
		valid("IssuedDate late without ExpiryDate", all(drop(id0, "ExpiryDate"), set(id0, "IssuedDate", "2026-01-01"))),
		valid("names in other scripts", all(set(fullName, "FirstName", "Zoë-Ångström"), set(fullName, "LastName", "عبد الله"), set(residence, "City", "東京"))),
		valid("no-break space in a street", set(residence, "Street", "742\u00a0Evergreen")),
	}
	for _, idType := range []string{"DrivingLicense", "NationalIDCard", "Passport", "AddressProof", "ResidencePermit", "TaxID"} {
		cases = append(cases, valid("IDType "+idType, set(id0, "IDType", idType)))
	}
	const (
		dob     = "Customer.DateOfBirth"
		first   = "Customer.FullName.FirstName"
		last    = "Customer.FullName.LastName"
		middle  = "Customer.FullName.MiddleName"
		street  = "Customer.PrimaryResidence.Street"
		state   = "Customer.PrimaryResidence.State"
		country = "Customer.PrimaryResidence.Country"
		issuer  = "Customer.Identities[0].IssuingCountry"
		idType  = "Customer.Identities[0].IDType"
		idNum   = "Customer.Identities[0].IDNumber"

		noFormatting = "must not contain control or bidirectional formatting characters"
	)
	cases = append(cases,
		bodyCase{name: "CustomerID missing", body: `{"Customer":null}`, want: []string{"CustomerID", "Customer"}},
		invalid("CustomerID empty", set(root, "CustomerID", ""), "must not be empty", "CustomerID"),
		invalid("CustomerID of 37 characters", set(root, "CustomerID", n("a", 37)), "must be at most 36 characters", "CustomerID"),
		invalid("CustomerID a number", set(root, "CustomerID", 42), "must be a string, not number", "CustomerID"),
		invalid("CustomerID null", set(root, "CustomerID", nil), "must be a string, not null", "CustomerID"),
		invalid("unknown top-level property", set(root, "Amount", 10), "is not allowed", "Amount"),
		invalid("misspelt CustomerID", all(drop(root, "CustomerID"), set(root, "CustomerId", "x")), "", "CustomerID", "CustomerId"),
		invalid("Customer a string", set(root, "Customer", "x"), "must be an object, not string", "Customer"),
		invalid("Customer null", set(root, "Customer", nil), "must be an object, not null", "Customer"),
		invalid("FullName missing", drop(customer, "FullName"), "is required", "Customer.FullName"),
		invalid("DateOfBirth missing", drop(customer, "DateOfBirth"), "is required", dob),
		invalid("Identities missing", drop(customer, "Identities"), "is required", "Customer.Identities"),
		invalid("PrimaryResidence missing", drop(customer, "PrimaryResidence"), "is required", "Customer.PrimaryResidence"),
		invalid("unknown Customer property", set(customer, "Email", "a@b.c"), "is not allowed", "Customer.Email"),
		invalid("FirstName missing", drop(fullName, "FirstName"), "is required", first),
		invalid("LastName missing", drop(fullName, "LastName"), "is required", last),
		invalid("FirstName empty", set(fullName, "FirstName", ""), "must not be empty", first),
		invalid("FirstName of 51 characters", set(fullName, "FirstName", n("a", 51)), "must be at most 50 characters", first),
		invalid("FirstName of 51 emoji", set(fullName, "FirstName", n("😀", 51)), "must be at most 50 characters", first),
		invalid("FirstName a number", set(fullName, "FirstName", 1), "must be a string, not number", first),
		invalid("LastName of 51 characters", set(fullName, "LastName", n("b", 51)), "must be at most 50 characters", last),
		invalid("MiddleName empty", set(fullName, "MiddleName", ""), "must not be empty", middle),
		invalid("MiddleName of 51 characters", set(fullName, "MiddleName", n("m", 51)), "must be at most 50 characters", middle),
		invalid("MiddleName null", set(fullName, "MiddleName", nil), "must be a string, not null", middle),
		invalid("unknown FullName property", set(fullName, "Nickname", "Q"), "is not allowed", "Customer.FullName.Nickname"),
		invalid("DateOfBirth 2023-02-29", set(customer, "DateOfBirth", "2023-02-29"), "real calendar date", dob),
		invalid("DateOfBirth 2024-13-01", set(customer, "DateOfBirth", "2024-13-01"), "real calendar date", dob),
		invalid("DateOfBirth 2024-04-31", set(customer, "DateOfBirth", "2024-04-31"), "real calendar date", dob),
		invalid("DateOfBirth 2024-4-16", set(customer, "DateOfBirth", "2024-4-16"), "must be exactly 10 characters", dob),
		invalid("DateOfBirth with a time", set(customer, "DateOfBirth", "2024-04-16T00:00:00Z"), "must be exactly 10 characters", dob),
		invalid("DateOfBirth day first", set(customer, "DateOfBirth", "16-04-2024"), "real calendar date", dob),
		invalid("DateOfBirth with slashes", set(customer, "DateOfBirth", "2024/04/16"), "real calendar date", dob),
		invalid("DateOfBirth empty", set(customer, "DateOfBirth", ""), "must be exactly 10 characters", dob),
		invalid("DateOfBirth a number", set(customer, "DateOfBirth", 20240416), "must be a string, not number", dob),
		invalid("DateOfBirth null", set(customer, "DateOfBirth", nil), "must be a string, not null", dob),
		invalid("Identities an object", set(customer, "Identities", map[string]any{}), "must be an array, not object", "Customer.Identities"),
		invalid("identity a string", set(customer, "Identities", []any{"passport"}), "must be an object, not string", "Customer.Identities[0]"),
		invalid("IssuingCountry missing", drop(id0, "IssuingCountry"), "is required", issuer),
		invalid("IDNumber missing", drop(id0, "IDNumber"), "is required", idNum),
		invalid("IDType missing", drop(id0, "IDType"), "is required", idType),
		invalid("IssuingCountry XX", set(id0, "IssuingCountry", "XX"), "ISO 3166-1 alpha-2", issuer),
		invalid("IssuingCountry UK (not assigned)", set(id0, "IssuingCountry", "UK"), "ISO 3166-1 alpha-2", issuer),
		invalid("IssuingCountry lowercase", set(id0, "IssuingCountry", "us"), "ISO 3166-1 alpha-2", issuer),
		invalid("IssuingCountry alpha-3", set(id0, "IssuingCountry", "USA"), "ISO 3166-1 alpha-2", issuer),
		invalid("IDNumber empty", set(id0, "IDNumber", ""), "must not be empty", idNum),
		invalid("IDNumber of 37 characters", set(id0, "IDNumber", n("7", 37)), "must be at most 36 characters", idNum),
		invalid("IssuedDate not a date", set(id0, "IssuedDate", "2019-02-30"), "real calendar date", "Customer.Identities[0].IssuedDate"),
		invalid("ExpiryDate too short", set(id0, "ExpiryDate", "2029-2-28"), "must be exactly 10 characters", "Customer.Identities[0].ExpiryDate"),
		invalid("IDType lowercase", set(id0, "IDType", "passport"), "must be one of DrivingLicense, NationalIDCard, Passport, AddressProof, ResidencePermit, TaxID", idType),
		invalid("IDType unknown", set(id0, "IDType", "DriversLicence"), "must be one of", idType),
		invalid("unknown identity property", set(id0, "Expiry", "2029-01-01"), "is not allowed", "Customer.Identities[0].Expiry"),
		invalid("second identity at fault", all(addIdentity, func(m map[string]any) { identity(m, 1)["IDType"] = "Visa" }), "must be one of", "Customer.Identities[1].IDType"),
		invalid("Street missing", drop(residence, "Street"), "is required", street),
		invalid("City missing", drop(residence, "City"), "is required", "Customer.PrimaryResidence.City"),
		invalid("PostCode missing", drop(residence, "PostCode"), "is required", "Customer.PrimaryResidence.PostCode"),
		invalid("State missing", drop(residence, "State"), "is required", state),
		invalid("Country missing", drop(residence, "Country"), "is required", country),
		invalid("Street of 1 character", set(residence, "Street", "A"), "must be at least 2 characters", street),
		invalid("Street of 201 characters", set(residence, "Street", n("s", 201)), "must be at most 200 characters", street),
		invalid("Street2 a number", set(residence, "Street2", 2), "must be a string, not number", "Customer.PrimaryResidence.Street2"),
		invalid("City empty", set(residence, "City", ""), "must not be empty", "Customer.PrimaryResidence.City"),
		invalid("City of 101 characters", set(residence, "City", n("c", 101)), "must be at most 100 characters", "Customer.PrimaryResidence.City"),
		invalid("PostCode empty", set(residence, "PostCode", ""), "must not be empty", "Customer.PrimaryResidence.PostCode"),
		invalid("PostCode of 21 characters", set(residence, "PostCode", n("9", 21)), "must be at most 20 characters", "Customer.PrimaryResidence.PostCode"),
		invalid("State empty abroad", all(set(residence, "Country", "GB"), set(residence, "State", "")), "must not be empty", state),
		invalid("State of 101 characters abroad", all(set(residence, "Country", "GB"), set(residence, "State", n("s", 101))), "must be at most 100 characters", state),
		invalid("Country XX", set(residence, "Country", "XX"), "ISO 3166-1 alpha-2", country),
		invalid("Country empty", set(residence, "Country", ""), "ISO 3166-1 alpha-2", country),
		invalid("US State spelt out", set(residence, "State", "Oregon"), "must be a US state code such as CA", state),
		invalid("US State lowercase", set(residence, "State", "or"), "must be a US state code such as CA", state),
		invalid("US State with its country prefix", set(residence, "State", "US-OR"), "must be a US state code such as CA", state),
		invalid("US State a Canadian code", set(residence, "State", "ON"), "must be a US state code such as CA", state),
		invalid("Canadian province a US code", all(set(residence, "Country", "CA"), set(residence, "State", "NY")), "Canadian province or territory", state),
		invalid("Canadian province CA", all(set(residence, "Country", "CA"), set(residence, "State", "CA")), "Canadian province or territory", state),
		invalid("unknown address property", set(residence, "Zip", "97403"), "is not allowed", "Customer.PrimaryResidence.Zip"),
		invalid("five faults at once",
			all(set(root, "CustomerID", ""), drop(fullName, "LastName"), set(customer, "DateOfBirth", "1987-02-30"), set(id0, "IDType", "Visa"), set(residence, "Zip", "1")),
			"", "CustomerID", last, dob, idType, "Customer.PrimaryResidence.Zip"),
		invalid("unknown properties at every level", all(set(root, "A", 1), set(customer, "B", 1), set(id0, "C", 1), set(residence, "D", 1), set(fullName, "E", 1)),
			"is not allowed", "A", "Customer.B", "Customer.Identities[0].C", "Customer.PrimaryResidence.D", "Customer.FullName.E"),
		invalid("two reasons for one property", set(residence, "State", ""), "must not be empty", state),
		invalid("DateOfBirth 1899-12-31", set(customer, "DateOfBirth", "1899-12-31"), "must not be before 1900-01-01", dob),
		invalid("DateOfBirth 9999-12-31", set(customer, "DateOfBirth", "9999-12-31"), "must not be in the future", dob),
		invalid("ExpiryDate the day before IssuedDate", set(id0, "ExpiryDate", "2019-02-28"), "must not be before IssuedDate", "Customer.Identities[0].ExpiryDate"),
		invalid("IssuedDate after ExpiryDate", set(id0, "IssuedDate", "2030-01-01"), "must not be before IssuedDate", "Customer.Identities[0].ExpiryDate"),
		invalid("second identity's dates out of order", all(addIdentity, func(m map[string]any) { identity(m, 1)["ExpiryDate"] = "2000-01-01" }),
			"must not be before IssuedDate", "Customer.Identities[1].ExpiryDate"),
		invalid("bidi override in the middle of a FirstName", set(fullName, "FirstName", "Ann\u202eeiraM"), noFormatting, first),
		invalid("tab in a LastName", set(fullName, "LastName", "Marsh\tbanks"), noFormatting, last),
		invalid("NEL (U+0085) in a MiddleName", set(fullName, "MiddleName", "Q\u0085"), noFormatting, middle),
		invalid("NUL in a CustomerID", set(root, "CustomerID", "cust\u0000"), noFormatting, "CustomerID"),
		invalid("DEL in an IDNumber", set(id0, "IDNumber", "PZ\u007f1"), noFormatting, idNum),
		invalid("Arabic letter mark in a City", set(residence, "City", "\u061cSpringfield"), noFormatting, "Customer.PrimaryResidence.City"),
		invalid("left-to-right mark in a Street", set(residence, "Street", "742 Evergreen\u200e"), noFormatting, street),
		invalid("isolate in a Street2", set(residence, "Street2", "\u2066Apt 4\u2069"), noFormatting, "Customer.PrimaryResidence.Street2"),
		invalid("line feed in a PostCode", set(residence, "PostCode", "97\n403"), noFormatting, "Customer.PrimaryResidence.PostCode"),
		invalid("C1 control in a State abroad", all(set(residence, "Country", "GB"), set(residence, "State", "Kent\u009b")), noFormatting, state),
		invalid("control character and too long", set(fullName, "FirstName", n("a", 50)+"\r"), "must be at most 50 characters", first),
		invalid("new faults beside old ones",
			all(set(fullName, "FirstName", "\u202e"), set(customer, "DateOfBirth", "1800-01-01"), set(id0, "ExpiryDate", "2000-01-01"), set(id0, "IDType", "Visa")),
			"", first, dob, "Customer.Identities[0].ExpiryDate", idType),
	)
	return cases
}

// TestBodies sends every body case through a real Caddy with a valid
// signature: valid bodies reach the upstream byte for byte, invalid ones
// are answered 400 with exactly the expected properties.
func TestBodies(t *testing.T) {
	f := newVerdictFixture(t, "")
	cases := bodyCases()
	if len(cases) < 80 {
		t.Fatalf("only %d body cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.up.reset()
			resp := f.gw.post(t, testPath, f.k384.sign(t, validClaims(tc.body), false), tc.body)
			if len(tc.want) == 0 {
				if got := statusOf(t, resp); got != http.StatusOK {
					t.Fatalf("a valid body got %d", got)
				}
				if got := f.up.received(); len(got) != 1 || string(got[0].body) != tc.body {
					t.Fatal("the upstream did not receive the body byte for byte")
				}
				return
			}
			env := decodedEnvelope(t, resp)
			if resp.StatusCode != http.StatusBadRequest || env.Type != envelope.TypeInvalidMessage || env.Extensions == nil {
				t.Fatalf("got %d %s %q", resp.StatusCode, env.Type, env.Detail)
			}
			got := slices.Sorted(maps.Keys(env.Extensions.Request))
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Fatalf("Extensions.Request names %q, want %q (%v)", got, want, env.Extensions.Request)
			}
			if tc.why != "" && !slices.ContainsFunc(env.Extensions.Request[tc.want[0]], func(r string) bool { return strings.Contains(r, tc.why) }) {
				t.Errorf("reasons for %s are %q, want one saying %q", tc.want[0], env.Extensions.Request[tc.want[0]], tc.why)
			}
			if len(f.up.received()) != 0 {
				t.Fatal("an invalid body reached the upstream")
			}
		})
	}
}

// FuzzBodyErrors runs the strict pass and the schema's error mapping on
// arbitrary bytes: they never panic, and every reported property has a
// path and at least one reason.
func FuzzBodyErrors(f *testing.F) {
	for _, tc := range bodyCases() {
		f.Add([]byte(tc.body))
	}
	schema, err := loadBodySchema(defaultSchema, time.Now)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		value, err := strictjson.Parse(data, schema.names)
		if err != nil {
			return
		}
		rej := schema.validate(value)
		if rej == nil {
			return
		}
		if len(rej.Fields) == 0 {
			t.Fatalf("a schema refusal without properties: %s", rej.Detail)
		}
		for path, reasons := range rej.Fields {
			if len(reasons) == 0 || slices.Contains(reasons, "") {
				t.Fatalf("property %q without a reason", path)
			}
		}
	})
}

// TestFieldErrorCapThroughCaddy sends a body with a fault in each of 250
// identities: the answer lists 100 of them, says how many more there are,
// and stays a fraction of the body's size.
func TestFieldErrorCapThroughCaddy(t *testing.T) {
	f := newVerdictFixture(t, "")
	body := faultyIdentities(250)
	resp := f.gw.post(t, testPath, f.k384.sign(t, validClaims(body), false), body)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("got %d", resp.StatusCode)
	}
	env := decodedEnvelope(t, resp)
	if env.Extensions == nil || len(env.Extensions.Request) != maxListedProperties {
		t.Fatalf("Extensions = %+v", env.Extensions)
	}
	if want := "the request has 250 invalid properties: the first 100 are listed, 150 more are not"; env.Detail != want {
		t.Errorf("Detail = %q, want %q", env.Detail, want)
	}
	for _, path := range []string{"Customer.Identities[0].IDType", "Customer.Identities[99].IDType"} {
		if len(env.Extensions.Request[path]) != 1 {
			t.Errorf("%s is not listed with its reason", path)
		}
	}
	if answer, err := json.Marshal(env); err != nil || len(answer) > len(body)/2 {
		t.Errorf("the answer is %d bytes for a body of %d", len(answer), len(body))
	}
	if len(f.up.received()) != 0 {
		t.Fatal("an invalid body reached the upstream")
	}
}

// Package bodycases holds the request bodies the tests share: the sample
// Create Managed Session body, edits of it, and the table of bodies with the
// properties the gateway must name for each. Only tests import it; it lives
// outside the _test files so that the Caddy integration tests and the body
// contract's own tests and fuzzers run the same cases.
package bodycases

import (
	"bytes"
	"encoding/json"
	"maps"
	"strings"
)

// Valid is a complete Create Managed Session body with recognisable
// customer data, so tests can look for leaks of it.
const Valid = `{"CustomerID":"cust-4471-zebra","Customer":{"FullName":{"FirstName":"Quintessa","LastName":"Marchbanks"},"DateOfBirth":"1987-06-30","Identities":[{"IssuingCountry":"US","IDNumber":"PZ9918273","IDType":"Passport","IssuedDate":"2019-03-01","ExpiryDate":"2029-02-28"}],"PrimaryResidence":{"Street":"742 Evergreen Terrace","City":"Springfield","PostCode":"97403","State":"OR","Country":"US"}}}`

// With is Valid with edit applied to its decoded form.
func With(edit func(m map[string]any)) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(Valid), &m); err != nil {
		panic(err)
	}
	edit(m)
	return EncodeJSON(m)
}

// EncodeJSON writes v as compact JSON, leaving <, > and & as they are.
func EncodeJSON(v any) string {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return strings.TrimSpace(out.String())
}

// Customer, FullName, Residence, Identity, Root and ID0 reach into a decoded
// body for Set and Drop.
func Customer(m map[string]any) map[string]any { return m["Customer"].(map[string]any) }
func FullName(m map[string]any) map[string]any { return Customer(m)["FullName"].(map[string]any) }
func Residence(m map[string]any) map[string]any {
	return Customer(m)["PrimaryResidence"].(map[string]any)
}
func Identity(m map[string]any, i int) map[string]any {
	return Customer(m)["Identities"].([]any)[i].(map[string]any)
}

// Set sets the member name of the object get finds.
func Set(get func(map[string]any) map[string]any, name string, value any) func(map[string]any) {
	return func(m map[string]any) { get(m)[name] = value }
}

// Drop removes the member name of the object get finds.
func Drop(get func(map[string]any) map[string]any, name string) func(map[string]any) {
	return func(m map[string]any) { delete(get(m), name) }
}

func Root(m map[string]any) map[string]any { return m }
func ID0(m map[string]any) map[string]any  { return Identity(m, 0) }

// All applies edits in order.
func All(edits ...func(map[string]any)) func(map[string]any) {
	return func(m map[string]any) {
		for _, e := range edits {
			e(m)
		}
	}
}

// AddIdentity appends a copy of the first identity.
func AddIdentity(m map[string]any) {
	c := Customer(m)
	second := maps.Clone(Identity(m, 0))
	c["Identities"] = append(c["Identities"].([]any), second)
}

// Case is a body and what the gateway must say about it.
type Case struct {
	Name string
	Body string
	// Want is the exact set of Extensions.Request keys; empty: accepted.
	Want []string
	// Why, when set, must be among the reasons given for Want[0].
	Why string
}

// Cases are the body table: valid bodies on the schema's edges, and invalid
// ones with the exact properties named.
func Cases() []Case {
	n := strings.Repeat
	valid := func(name string, edit func(map[string]any)) Case {
		return Case{Name: name, Body: With(edit)}
	}
	invalid := func(name string, edit func(map[string]any), why string, keys ...string) Case {
		return Case{Name: name, Body: With(edit), Want: keys, Why: why}
	}
	cases := []Case{
		{Name: "the sample body", Body: Valid},
		{Name: "CustomerID alone", Body: `{"CustomerID":"c"}`},
		valid("CustomerID of 36 characters", Set(Root, "CustomerID", n("a", 36))),
		valid("FirstName of 50 characters", Set(FullName, "FirstName", n("a", 50))),
		valid("FirstName of 50 two-byte characters", Set(FullName, "FirstName", n("é", 50))),
		valid("FirstName of 50 emoji", Set(FullName, "FirstName", n("😀", 50))),
		valid("LastName of 50 characters", Set(FullName, "LastName", n("b", 50))),
		valid("MiddleName of 1 character", Set(FullName, "MiddleName", "Q")),
		valid("MiddleName of 50 characters", Set(FullName, "MiddleName", n("q", 50))),
		valid("Street of 2 characters", Set(Residence, "Street", "A1")),
		valid("Street of 200 characters", Set(Residence, "Street", n("s", 200))),
		valid("Street2 of any length", Set(Residence, "Street2", n("x", 500))),
		valid("City of 100 characters", Set(Residence, "City", n("c", 100))),
		valid("PostCode of 20 characters", Set(Residence, "PostCode", n("9", 20))),
		valid("State free text outside US and CA", All(Set(Residence, "Country", "GB"), Set(Residence, "State", n("s", 100)))),
		valid("US state DC", Set(Residence, "State", "DC")),
		valid("US outlying area PR", Set(Residence, "State", "PR")),
		valid("US outlying area UM", Set(Residence, "State", "UM")),
		valid("Canadian province ON", All(Set(Residence, "Country", "CA"), Set(Residence, "State", "ON"))),
		valid("Canadian territory YT", All(Set(Residence, "Country", "CA"), Set(Residence, "State", "YT"))),
		valid("country AX", Set(Residence, "Country", "AX")),
		valid("IDNumber of 36 characters", Set(ID0, "IDNumber", n("7", 36))),
		valid("leap day", Set(Customer, "DateOfBirth", "2024-02-29")),
		valid("no optional Identity dates", All(Drop(ID0, "IssuedDate"), Drop(ID0, "ExpiryDate"))),
		valid("no identities listed", Set(Customer, "Identities", []any{})),
		valid("two identities", AddIdentity),
		valid("DateOfBirth 1900-01-01", Set(Customer, "DateOfBirth", "1900-01-01")),
		valid("ExpiryDate the IssuedDate", Set(ID0, "ExpiryDate", "2019-03-01")),
		valid("ExpiryDate early without IssuedDate", All(Drop(ID0, "IssuedDate"), Set(ID0, "ExpiryDate", "1990-01-01"))),
		valid("IssuedDate late without ExpiryDate", All(Drop(ID0, "ExpiryDate"), Set(ID0, "IssuedDate", "2026-01-01"))),
		valid("names in other scripts", All(Set(FullName, "FirstName", "Zoë-Ångström"), Set(FullName, "LastName", "عبد الله"), Set(Residence, "City", "東京"))),
		valid("no-break space in a street", Set(Residence, "Street", "742\u00a0Evergreen")),
	}
	for _, idType := range []string{"DrivingLicense", "NationalIDCard", "Passport", "AddressProof", "ResidencePermit", "TaxID"} {
		cases = append(cases, valid("IDType "+idType, Set(ID0, "IDType", idType)))
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
		Case{Name: "CustomerID missing", Body: `{"Customer":null}`, Want: []string{"CustomerID", "Customer"}},
		invalid("CustomerID empty", Set(Root, "CustomerID", ""), "must not be empty", "CustomerID"),
		invalid("CustomerID of 37 characters", Set(Root, "CustomerID", n("a", 37)), "must be at most 36 characters", "CustomerID"),
		invalid("CustomerID a number", Set(Root, "CustomerID", 42), "must be a string, not number", "CustomerID"),
		invalid("CustomerID null", Set(Root, "CustomerID", nil), "must be a string, not null", "CustomerID"),
		invalid("unknown top-level property", Set(Root, "Amount", 10), "is not allowed", "Amount"),
		invalid("misspelt CustomerID", All(Drop(Root, "CustomerID"), Set(Root, "CustomerId", "x")), "", "CustomerID", "CustomerId"),
		invalid("Customer a string", Set(Root, "Customer", "x"), "must be an object, not string", "Customer"),
		invalid("Customer null", Set(Root, "Customer", nil), "must be an object, not null", "Customer"),
		invalid("FullName missing", Drop(Customer, "FullName"), "is required", "Customer.FullName"),
		invalid("DateOfBirth missing", Drop(Customer, "DateOfBirth"), "is required", dob),
		invalid("Identities missing", Drop(Customer, "Identities"), "is required", "Customer.Identities"),
		invalid("PrimaryResidence missing", Drop(Customer, "PrimaryResidence"), "is required", "Customer.PrimaryResidence"),
		invalid("unknown Customer property", Set(Customer, "Email", "a@b.c"), "is not allowed", "Customer.Email"),
		invalid("FirstName missing", Drop(FullName, "FirstName"), "is required", first),
		invalid("LastName missing", Drop(FullName, "LastName"), "is required", last),
		invalid("FirstName empty", Set(FullName, "FirstName", ""), "must not be empty", first),
		invalid("FirstName of 51 characters", Set(FullName, "FirstName", n("a", 51)), "must be at most 50 characters", first),
		invalid("FirstName of 51 emoji", Set(FullName, "FirstName", n("😀", 51)), "must be at most 50 characters", first),
		invalid("FirstName a number", Set(FullName, "FirstName", 1), "must be a string, not number", first),
		invalid("LastName of 51 characters", Set(FullName, "LastName", n("b", 51)), "must be at most 50 characters", last),
		invalid("MiddleName empty", Set(FullName, "MiddleName", ""), "must not be empty", middle),
		invalid("MiddleName of 51 characters", Set(FullName, "MiddleName", n("m", 51)), "must be at most 50 characters", middle),
		invalid("MiddleName null", Set(FullName, "MiddleName", nil), "must be a string, not null", middle),
		invalid("unknown FullName property", Set(FullName, "Nickname", "Q"), "is not allowed", "Customer.FullName.Nickname"),
		invalid("DateOfBirth 2023-02-29", Set(Customer, "DateOfBirth", "2023-02-29"), "real calendar date", dob),
		invalid("DateOfBirth 2024-13-01", Set(Customer, "DateOfBirth", "2024-13-01"), "real calendar date", dob),
		invalid("DateOfBirth 2024-04-31", Set(Customer, "DateOfBirth", "2024-04-31"), "real calendar date", dob),
		invalid("DateOfBirth 2024-4-16", Set(Customer, "DateOfBirth", "2024-4-16"), "must be exactly 10 characters", dob),
		invalid("DateOfBirth with a time", Set(Customer, "DateOfBirth", "2024-04-16T00:00:00Z"), "must be exactly 10 characters", dob),
		invalid("DateOfBirth day first", Set(Customer, "DateOfBirth", "16-04-2024"), "real calendar date", dob),
		invalid("DateOfBirth with slashes", Set(Customer, "DateOfBirth", "2024/04/16"), "real calendar date", dob),
		invalid("DateOfBirth empty", Set(Customer, "DateOfBirth", ""), "must be exactly 10 characters", dob),
		invalid("DateOfBirth a number", Set(Customer, "DateOfBirth", 20240416), "must be a string, not number", dob),
		invalid("DateOfBirth null", Set(Customer, "DateOfBirth", nil), "must be a string, not null", dob),
		invalid("Identities an object", Set(Customer, "Identities", map[string]any{}), "must be an array, not object", "Customer.Identities"),
		invalid("Identity a string", Set(Customer, "Identities", []any{"passport"}), "must be an object, not string", "Customer.Identities[0]"),
		invalid("IssuingCountry missing", Drop(ID0, "IssuingCountry"), "is required", issuer),
		invalid("IDNumber missing", Drop(ID0, "IDNumber"), "is required", idNum),
		invalid("IDType missing", Drop(ID0, "IDType"), "is required", idType),
		invalid("IssuingCountry XX", Set(ID0, "IssuingCountry", "XX"), "ISO 3166-1 alpha-2", issuer),
		invalid("IssuingCountry UK (not assigned)", Set(ID0, "IssuingCountry", "UK"), "ISO 3166-1 alpha-2", issuer),
		invalid("IssuingCountry lowercase", Set(ID0, "IssuingCountry", "us"), "ISO 3166-1 alpha-2", issuer),
		invalid("IssuingCountry alpha-3", Set(ID0, "IssuingCountry", "USA"), "ISO 3166-1 alpha-2", issuer),
		invalid("IDNumber empty", Set(ID0, "IDNumber", ""), "must not be empty", idNum),
		invalid("IDNumber of 37 characters", Set(ID0, "IDNumber", n("7", 37)), "must be at most 36 characters", idNum),
		invalid("IssuedDate not a date", Set(ID0, "IssuedDate", "2019-02-30"), "real calendar date", "Customer.Identities[0].IssuedDate"),
		invalid("ExpiryDate too short", Set(ID0, "ExpiryDate", "2029-2-28"), "must be exactly 10 characters", "Customer.Identities[0].ExpiryDate"),
		invalid("IDType lowercase", Set(ID0, "IDType", "passport"), "must be one of DrivingLicense, NationalIDCard, Passport, AddressProof, ResidencePermit, TaxID", idType),
		invalid("IDType unknown", Set(ID0, "IDType", "DriversLicence"), "must be one of", idType),
		invalid("unknown Identity property", Set(ID0, "Expiry", "2029-01-01"), "is not allowed", "Customer.Identities[0].Expiry"),
		invalid("second Identity at fault", All(AddIdentity, func(m map[string]any) { Identity(m, 1)["IDType"] = "Visa" }), "must be one of", "Customer.Identities[1].IDType"),
		invalid("Street missing", Drop(Residence, "Street"), "is required", street),
		invalid("City missing", Drop(Residence, "City"), "is required", "Customer.PrimaryResidence.City"),
		invalid("PostCode missing", Drop(Residence, "PostCode"), "is required", "Customer.PrimaryResidence.PostCode"),
		invalid("State missing", Drop(Residence, "State"), "is required", state),
		invalid("Country missing", Drop(Residence, "Country"), "is required", country),
		invalid("Street of 1 character", Set(Residence, "Street", "A"), "must be at least 2 characters", street),
		invalid("Street of 201 characters", Set(Residence, "Street", n("s", 201)), "must be at most 200 characters", street),
		invalid("Street2 a number", Set(Residence, "Street2", 2), "must be a string, not number", "Customer.PrimaryResidence.Street2"),
		invalid("City empty", Set(Residence, "City", ""), "must not be empty", "Customer.PrimaryResidence.City"),
		invalid("City of 101 characters", Set(Residence, "City", n("c", 101)), "must be at most 100 characters", "Customer.PrimaryResidence.City"),
		invalid("PostCode empty", Set(Residence, "PostCode", ""), "must not be empty", "Customer.PrimaryResidence.PostCode"),
		invalid("PostCode of 21 characters", Set(Residence, "PostCode", n("9", 21)), "must be at most 20 characters", "Customer.PrimaryResidence.PostCode"),
		invalid("State empty abroad", All(Set(Residence, "Country", "GB"), Set(Residence, "State", "")), "must not be empty", state),
		invalid("State of 101 characters abroad", All(Set(Residence, "Country", "GB"), Set(Residence, "State", n("s", 101))), "must be at most 100 characters", state),
		invalid("Country XX", Set(Residence, "Country", "XX"), "ISO 3166-1 alpha-2", country),
		invalid("Country empty", Set(Residence, "Country", ""), "ISO 3166-1 alpha-2", country),
		invalid("US State spelt out", Set(Residence, "State", "Oregon"), "must be a US state code such as CA", state),
		invalid("US State lowercase", Set(Residence, "State", "or"), "must be a US state code such as CA", state),
		invalid("US State with its country prefix", Set(Residence, "State", "US-OR"), "must be a US state code such as CA", state),
		invalid("US State a Canadian code", Set(Residence, "State", "ON"), "must be a US state code such as CA", state),
		invalid("Canadian province a US code", All(Set(Residence, "Country", "CA"), Set(Residence, "State", "NY")), "Canadian province or territory", state),
		invalid("Canadian province CA", All(Set(Residence, "Country", "CA"), Set(Residence, "State", "CA")), "Canadian province or territory", state),
		invalid("unknown address property", Set(Residence, "Zip", "97403"), "is not allowed", "Customer.PrimaryResidence.Zip"),
		invalid("five faults at once",
			All(Set(Root, "CustomerID", ""), Drop(FullName, "LastName"), Set(Customer, "DateOfBirth", "1987-02-30"), Set(ID0, "IDType", "Visa"), Set(Residence, "Zip", "1")),
			"", "CustomerID", last, dob, idType, "Customer.PrimaryResidence.Zip"),
		invalid("unknown properties at every level", All(Set(Root, "A", 1), Set(Customer, "B", 1), Set(ID0, "C", 1), Set(Residence, "D", 1), Set(FullName, "E", 1)),
			"is not allowed", "A", "Customer.B", "Customer.Identities[0].C", "Customer.PrimaryResidence.D", "Customer.FullName.E"),
		invalid("two reasons for one property", Set(Residence, "State", ""), "must not be empty", state),
		invalid("DateOfBirth 1899-12-31", Set(Customer, "DateOfBirth", "1899-12-31"), "must not be before 1900-01-01", dob),
		invalid("DateOfBirth 9999-12-31", Set(Customer, "DateOfBirth", "9999-12-31"), "must not be in the future", dob),
		invalid("ExpiryDate the day before IssuedDate", Set(ID0, "ExpiryDate", "2019-02-28"), "must not be before IssuedDate", "Customer.Identities[0].ExpiryDate"),
		invalid("IssuedDate after ExpiryDate", Set(ID0, "IssuedDate", "2030-01-01"), "must not be before IssuedDate", "Customer.Identities[0].ExpiryDate"),
		invalid("second Identity's dates out of order", All(AddIdentity, func(m map[string]any) { Identity(m, 1)["ExpiryDate"] = "2000-01-01" }),
			"must not be before IssuedDate", "Customer.Identities[1].ExpiryDate"),
		invalid("bidi override in the middle of a FirstName", Set(FullName, "FirstName", "Ann\u202eeiraM"), noFormatting, first),
		invalid("tab in a LastName", Set(FullName, "LastName", "Marsh\tbanks"), noFormatting, last),
		invalid("NEL (U+0085) in a MiddleName", Set(FullName, "MiddleName", "Q\u0085"), noFormatting, middle),
		invalid("NUL in a CustomerID", Set(Root, "CustomerID", "cust\u0000"), noFormatting, "CustomerID"),
		invalid("DEL in an IDNumber", Set(ID0, "IDNumber", "PZ\u007f1"), noFormatting, idNum),
		invalid("Arabic letter mark in a City", Set(Residence, "City", "\u061cSpringfield"), noFormatting, "Customer.PrimaryResidence.City"),
		invalid("left-to-right mark in a Street", Set(Residence, "Street", "742 Evergreen\u200e"), noFormatting, street),
		invalid("isolate in a Street2", Set(Residence, "Street2", "\u2066Apt 4\u2069"), noFormatting, "Customer.PrimaryResidence.Street2"),
		invalid("line feed in a PostCode", Set(Residence, "PostCode", "97\n403"), noFormatting, "Customer.PrimaryResidence.PostCode"),
		invalid("C1 control in a State abroad", All(Set(Residence, "Country", "GB"), Set(Residence, "State", "Kent\u009b")), noFormatting, state),
		invalid("control character and too long", Set(FullName, "FirstName", n("a", 50)+"\r"), "must be at most 50 characters", first),
		invalid("new faults beside old ones",
			All(Set(FullName, "FirstName", "\u202e"), Set(Customer, "DateOfBirth", "1800-01-01"), Set(ID0, "ExpiryDate", "2000-01-01"), Set(ID0, "IDType", "Visa")),
			"", first, dob, "Customer.Identities[0].ExpiryDate", idType),
	)
	return cases
}

// FaultyIdentities is a valid body but for n identities with an unknown
// IDType each: n invalid properties.
func FaultyIdentities(n int) string {
	return With(func(m map[string]any) {
		list := make([]any, n)
		for i := range list {
			item := maps.Clone(Identity(m, 0))
			item["IDType"] = "Visa"
			list[i] = item
		}
		Customer(m)["Identities"] = list
	})
}

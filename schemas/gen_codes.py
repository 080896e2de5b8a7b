#!/usr/bin/env python3
"""Fills the code lists in create_managed_session.json from Debian's
iso-codes package (apt-get install iso-codes), so that no code is typed by
hand. Run it from this folder after an iso-codes update:

    python3 gen_codes.py
"""
import json
import pathlib

ISO = pathlib.Path("/usr/share/iso-codes/json")
SCHEMA = pathlib.Path(__file__).with_name("create_managed_session.json")


def subdivisions(country, entries):
    prefix = country + "-"
    return sorted(e["code"][len(prefix):] for e in entries if e["code"].startswith(prefix))


def main():
    countries = sorted(c["alpha_2"] for c in json.loads((ISO / "iso_3166-1.json").read_text())["3166-1"])
    divisions = json.loads((ISO / "iso_3166-2.json").read_text())["3166-2"]
    schema = json.loads(SCHEMA.read_text())
    defs = schema["$defs"]
    defs["CountryCode"]["enum"] = countries
    defs["USStateCode"]["enum"] = subdivisions("US", divisions)
    defs["CAProvinceCode"]["enum"] = subdivisions("CA", divisions)
    SCHEMA.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
    print(f"{len(countries)} countries, {len(defs['USStateCode']['enum'])} US, {len(defs['CAProvinceCode']['enum'])} CA")


if __name__ == "__main__":
    main()

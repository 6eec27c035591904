"""Where a callee is, as far as the calling rules care: a country and, for US and Canadian numbers,
a state or province; each with the time zones its rules are judged in.

The state or province of a number comes from phonenumbers' geocoder (Google's libphonenumber
metadata, built from the NANPA area code assignments and updated with each release), not from a
table of our own: a hand-kept area code table goes stale with every new overlay, and the service
already pins and updates phonenumbers. The geocoder names a state ("Florida"), a city and state
("San Francisco, CA") or, for a few shared codes, several ("Northwest Territories/Nunavut/Yukon");
the last, toll-free and non-geographic numbers have no region, and the rules treat them as being
anywhere in their country.

The zones of a region (an address region such as `US-FL`, or every region of a country when the
number's cannot be told) come from REGION_ZONES below: the IANA tz database's zones for the
places in each state or province (zone1970.tab and the zones' own comments), every zone that
covers part of it, so that a rule judged in all of them holds wherever the callee is.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import geocoder

from compliance.windows import number_time_zones

COUNTRY_NAMES = {
    "US": "United States",
    "CA": "Canada",
    "GB": "United Kingdom",
    "FR": "France",
}

# ISO 3166-2 subdivision → (name, the IANA zones covering part of it).
REGION_ZONES: dict[str, tuple[str, tuple[str, ...]]] = {
    "US-AL": ("Alabama", ("America/Chicago",)),
    "US-AK": ("Alaska", ("America/Anchorage", "America/Juneau", "America/Nome", "America/Adak")),
    "US-AZ": ("Arizona", ("America/Phoenix", "America/Denver")),
    "US-AR": ("Arkansas", ("America/Chicago",)),
    "US-CA": ("California", ("America/Los_Angeles",)),
    "US-CO": ("Colorado", ("America/Denver",)),
    "US-CT": ("Connecticut", ("America/New_York",)),
    "US-DE": ("Delaware", ("America/New_York",)),
    "US-DC": ("District of Columbia", ("America/New_York",)),
    "US-FL": ("Florida", ("America/New_York", "America/Chicago")),
    "US-GA": ("Georgia", ("America/New_York",)),
    "US-HI": ("Hawaii", ("Pacific/Honolulu",)),
    "US-ID": ("Idaho", ("America/Boise", "America/Los_Angeles")),
    "US-IL": ("Illinois", ("America/Chicago",)),
    "US-IN": ("Indiana", ("America/Indiana/Indianapolis", "America/Chicago")),
    "US-IA": ("Iowa", ("America/Chicago",)),
    "US-KS": ("Kansas", ("America/Chicago", "America/Denver")),
    "US-KY": ("Kentucky", ("America/Kentucky/Louisville", "America/Chicago")),
    "US-LA": ("Louisiana", ("America/Chicago",)),
    "US-ME": ("Maine", ("America/New_York",)),
    "US-MD": ("Maryland", ("America/New_York",)),
    "US-MA": ("Massachusetts", ("America/New_York",)),
    "US-MI": ("Michigan", ("America/Detroit", "America/Menominee")),
    "US-MN": ("Minnesota", ("America/Chicago",)),
    "US-MS": ("Mississippi", ("America/Chicago",)),
    "US-MO": ("Missouri", ("America/Chicago",)),
    "US-MT": ("Montana", ("America/Denver",)),
    "US-NE": ("Nebraska", ("America/Chicago", "America/Denver")),
    "US-NV": ("Nevada", ("America/Los_Angeles", "America/Denver")),
    "US-NH": ("New Hampshire", ("America/New_York",)),
    "US-NJ": ("New Jersey", ("America/New_York",)),
    "US-NM": ("New Mexico", ("America/Denver",)),
    "US-NY": ("New York", ("America/New_York",)),
    "US-NC": ("North Carolina", ("America/New_York",)),
    "US-ND": ("North Dakota", ("America/Chicago", "America/Denver")),
    "US-OH": ("Ohio", ("America/New_York",)),
    "US-OK": ("Oklahoma", ("America/Chicago",)),
    "US-OR": ("Oregon", ("America/Los_Angeles", "America/Boise")),
    "US-PA": ("Pennsylvania", ("America/New_York",)),
    "US-RI": ("Rhode Island", ("America/New_York",)),
    "US-SC": ("South Carolina", ("America/New_York",)),
    "US-SD": ("South Dakota", ("America/Chicago", "America/Denver")),
    "US-TN": ("Tennessee", ("America/Chicago", "America/New_York")),
    "US-TX": ("Texas", ("America/Chicago", "America/Denver")),
    "US-UT": ("Utah", ("America/Denver",)),
    "US-VT": ("Vermont", ("America/New_York",)),
    "US-VA": ("Virginia", ("America/New_York",)),
    "US-WA": ("Washington", ("America/Los_Angeles",)),
    "US-WV": ("West Virginia", ("America/New_York",)),
    "US-WI": ("Wisconsin", ("America/Chicago",)),
    "US-WY": ("Wyoming", ("America/Denver",)),
    "CA-AB": ("Alberta", ("America/Edmonton",)),
    "CA-BC": ("British Columbia", ("America/Vancouver", "America/Fort_Nelson", "America/Creston")),
    "CA-MB": ("Manitoba", ("America/Winnipeg",)),
    "CA-NB": ("New Brunswick", ("America/Moncton",)),
    "CA-NL": ("Newfoundland and Labrador", ("America/St_Johns", "America/Goose_Bay")),
    "CA-NS": ("Nova Scotia", ("America/Halifax",)),
    "CA-NT": ("Northwest Territories", ("America/Edmonton", "America/Inuvik")),
    "CA-NU": ("Nunavut", ("America/Iqaluit", "America/Rankin_Inlet", "America/Cambridge_Bay")),
    "CA-ON": ("Ontario", ("America/Toronto", "America/Winnipeg")),
    "CA-PE": ("Prince Edward Island", ("America/Halifax",)),
    "CA-QC": ("Quebec", ("America/Toronto", "America/Halifax")),
    "CA-SK": ("Saskatchewan", ("America/Regina", "America/Edmonton")),
    "CA-YT": ("Yukon", ("America/Whitehorse",)),
}

COUNTRY_ZONES: dict[str, tuple[str, ...]] = {
    "GB": ("Europe/London",),
    "FR": ("Europe/Paris",),
}

# The geocoder's word for a state where it is not the state's own name.
_GEOCODER_ALIASES = {"Washington State": "US-WA", "Washington D.C.": "US-DC"}
_REGION_BY_NAME = {(code[:2], name): code for code, (name, _) in REGION_ZONES.items()}
_CITY_STATE = re.compile(r",\s*([A-Z]{2})$")
REGION_CODE = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")


def jurisdiction_name(code: str) -> str:
    if code in REGION_ZONES:
        return REGION_ZONES[code][0]
    return COUNTRY_NAMES.get(code, code)


def country_zones(country: str) -> tuple[str, ...]:
    """Every zone of a country: its own entry, else the union of its regions' zones."""
    if country in COUNTRY_ZONES:
        return COUNTRY_ZONES[country]
    zones = {z for code, (_, zs) in REGION_ZONES.items() if code[:2] == country for z in zs}
    return tuple(sorted(zones))


def country_regions(country: str) -> tuple[str, ...]:
    return tuple(code for code in REGION_ZONES if code[:2] == country)


def region_zones(region: str) -> tuple[str, ...]:
    if region in REGION_ZONES:
        return REGION_ZONES[region][1]
    return country_zones(region)


@dataclass(frozen=True)
class NumberPlace:
    """What the number alone tells: its country (None when phonenumbers cannot say), its region
    (None when it cannot be told) and the zones phonenumbers places it in (maybe none)."""

    country: str | None
    region: str | None
    zones: tuple[str, ...]


@lru_cache(maxsize=4096)
def number_place(number: str) -> NumberPlace:
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return NumberPlace(None, None, ())
    country = phonenumbers.region_code_for_number(parsed)
    region = None
    if country in ("US", "CA"):
        region = _region_from_description(country, geocoder.description_for_number(parsed, "en"))
    return NumberPlace(country, region, number_time_zones(number))


def _region_from_description(country: str, description: str) -> str | None:
    if description in _GEOCODER_ALIASES:
        return _GEOCODER_ALIASES[description]
    if (country, description) in _REGION_BY_NAME:
        return _REGION_BY_NAME[(country, description)]
    match = _CITY_STATE.search(description)
    if match and f"{country}-{match.group(1)}" in REGION_ZONES:
        return f"{country}-{match.group(1)}"
    return None

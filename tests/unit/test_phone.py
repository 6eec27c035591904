"""to_e164's shortcut for +1 numbers already in E.164 (`nanp_is_valid`) answers what the plain
phonenumbers path answers: the same number, or the same refusal, for generated numbers of every
NANP area code and for text the shortcut must leave to phonenumbers."""

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from calls import phone
from calls.phone import nanp_is_valid, parsed_to_e164, to_e164


def outcome(convert, raw):
    try:
        return ("number", convert(raw))
    except ValidationError as error:
        return ("refused", error.code, error.messages)


ten_digits = st.text("0123456789", min_size=10, max_size=10)
# Area codes of every kind: each leading digit, the N11 and N9X codes, toll-free, Caribbean.
area_codes = st.integers(200, 999).map(str)
exchanges = st.integers(0, 999).map(lambda n: f"{n:03d}")
lines = st.integers(0, 9999).map(lambda n: f"{n:04d}")
nanp_numbers = st.builds(lambda a, e, n: f"+1{a}{e}{n}", area_codes, exchanges, lines)
near_misses = st.one_of(
    ten_digits.map(lambda d: f"+1{d}"),  # area codes starting 0 or 1 too
    st.text("0123456789", min_size=8, max_size=12).map(lambda d: f"+1{d}"),
    nanp_numbers.map(lambda n: f" {n}\t"),
    nanp_numbers.map(lambda n: n.replace("+1", "+1 ", 1)),
    nanp_numbers.map(lambda n: n[2:]),  # national, read in the default region
    nanp_numbers.map(lambda n: n[:-1] + "\u0663"),  # an Arabic-Indic digit
    nanp_numbers.map(lambda n: n + "5"),
)


@settings(max_examples=3000, deadline=None)
@given(raw=st.one_of(nanp_numbers, near_misses))
def test_the_shortcut_accepts_and_refuses_exactly_what_phonenumbers_does(raw):
    assert outcome(to_e164, raw) == outcome(parsed_to_e164, raw)


@pytest.mark.parametrize(
    "raw, valid",
    [
        ("+14155550123", True),  # US, the region without leading digits
        ("+14165550123", True),  # Canada, found by its leading digits
        ("+18095550123", True),  # Dominican Republic
        ("+18005550123", True),  # toll-free
        ("+12125550123", True),
        ("+19115550123", False),  # N11: no area code
        ("+13705550123", False),  # an area code not in service
    ],
)
def test_the_shortcut_agrees_with_phonenumbers_on_known_numbers(raw, valid):
    assert nanp_is_valid(raw[2:]) is valid
    assert phonenumbers.is_valid_number(phonenumbers.parse(raw)) is valid


def test_every_area_code_and_exchange_agrees_on_one_line_each():
    disagreements = [
        digits
        for area in range(200, 1000)
        for exchange in range(0, 1000, 37)
        if nanp_is_valid(digits := f"{area}{exchange:03d}{(area * exchange) % 10000:04d}")
        != phonenumbers.is_valid_number(phonenumbers.parse(f"+1{digits}"))
    ]
    assert disagreements == []


def test_a_number_the_shortcut_refuses_gets_phonenumbers_own_refusal(monkeypatch):
    calls = []
    monkeypatch.setattr(phone, "nanp_is_valid", lambda digits: calls.append(digits) or False)
    with pytest.raises(ValidationError) as refused:
        to_e164("+19115550123")
    assert refused.value.code == "invalid"
    assert calls == ["9115550123"]
    # A valid number the shortcut were to refuse is still taken by phonenumbers' path.
    assert to_e164("+14155550123") == "+14155550123"

import re
from dataclasses import dataclass
from functools import cache

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from phonenumbers.phonemetadata import PhoneMetadata

# A North American number already in E.164: +1, then ten ASCII digits, the first 2-9 (which
# `phonenumbers.parse` takes as they are: no national prefix to strip, no leading zero).
NANP_E164 = re.compile(r"\+1[2-9][0-9]{9}")
NANP_LENGTH = 10


def to_e164(raw: str) -> str:
    """The number in E.164, or a ValidationError that says what is wrong with it."""
    text = (raw or "").strip()
    if NANP_E164.fullmatch(text) and nanp_is_valid(text[2:]):
        return text
    return parsed_to_e164(text)


def parsed_to_e164(raw: str) -> str:
    """to_e164 without its +1 shortcut: phonenumbers parses, validates and formats the number;
    what the shortcut must agree with (tests/unit/test_phone.py)."""
    text = (raw or "").strip()
    if not text:
        raise ValidationError("The phone number is empty.", code="empty")
    try:
        number = phonenumbers.parse(text, settings.DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException as error:
        raise ValidationError(
            f"{text!r} is not a phone number: {error._msg}", code="unparsable"
        ) from error
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            f"{text!r} is not a valid phone number in any numbering plan.", code="invalid"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_e164(value: str) -> None:
    if to_e164(value) != value:
        raise ValidationError(f"{value!r} is not in E.164 form (e.g. +14155550123).", code="form")


@dataclass(frozen=True)
class NanpRegion:
    """One region of country code 1, its metadata's patterns for a ten-digit national number."""

    leading_digits: re.Pattern | None
    general: re.Pattern | None
    any_type: re.Pattern | None


def _ten_digit_pattern(descs) -> re.Pattern | None:
    """The patterns of `descs` that a ten-digit number may match, as one alternation (None when
    none may): a desc whose possible lengths leave ten out never matches one."""
    patterns = [
        desc.national_number_pattern
        for desc in descs
        if desc is not None
        and desc.national_number_pattern
        and (not desc.possible_length or NANP_LENGTH in desc.possible_length)
    ]
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns))


@cache
def nanp_regions() -> tuple[NanpRegion, ...]:
    """Country code 1's regions in phonenumbers' order, each with its patterns compiled once."""
    regions = []
    for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]:
        metadata = PhoneMetadata.metadata_for_region(code, None)
        if metadata is None:
            continue
        types = [
            metadata.premium_rate,
            metadata.toll_free,
            metadata.shared_cost,
            metadata.voip,
            metadata.personal_number,
            metadata.pager,
            metadata.uan,
            metadata.voicemail,
            metadata.fixed_line,
        ]
        # phonenumbers tries the mobile pattern only when it is not the fixed-line one.
        if not metadata.same_mobile_and_fixed_line_pattern:
            types.append(metadata.mobile)
        regions.append(
            NanpRegion(
                leading_digits=re.compile(metadata.leading_digits)
                if metadata.leading_digits is not None
                else None,
                general=_ten_digit_pattern([metadata.general_desc]),
                any_type=_ten_digit_pattern(types),
            )
        )
    return tuple(regions)


def _matches_a_type(region: NanpRegion, digits: str) -> bool:
    return bool(
        region.general
        and region.general.fullmatch(digits)
        and region.any_type
        and region.any_type.fullmatch(digits)
    )


def nanp_is_valid(digits: str) -> bool:
    """`phonenumbers.is_valid_number` of +1 `digits` (ten digits, the first 2-9), without its
    per-call overhead (it tries each of the 25 regions' patterns one function call at a time).

    The same two steps, on the same metadata: the number's region is the first of country code
    1's regions whose leading digits start it or, for a region without any (the US), whose
    patterns take it; the number is valid when that region's general pattern and one of its
    types' patterns (premium rate … mobile) take it whole."""
    for region in nanp_regions():
        if region.leading_digits is not None:
            if region.leading_digits.match(digits):
                return _matches_a_type(region, digits)
        elif _matches_a_type(region, digits):
            return True
    return False

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError


def to_e164(raw: str) -> str:
    """The number in E.164, or a ValidationError that says what is wrong with it."""
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

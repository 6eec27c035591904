"""What Twilio's webhooks carry, parsed and bounded before anything is stored.

What the service acts on must be as Twilio writes it, or the request is refused (400) and nothing
is stored: identifiers in printable characters, numbers in ASCII digits within their column's
range. What is kept only for people to read (an error message, a callback's raw parameters) is
cleaned instead, so the report still applies and the audit trail keeps what came: unprintable
characters escaped (PostgreSQL refuses NUL in text and in jsonb), the length capped.
"""

import re

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict

from calls.models import CallLog
from calls.models.call_logs import DIGITS_MAX

CALL_SID = r"^CA[0-9a-fA-F]{32}\Z"
# PostgreSQL's integer and smallint, the columns of PositiveIntegerField and
# PositiveSmallIntegerField. SQLite would store more; the limit is the same on both.
INTEGER_MAX = 2**31 - 1
SMALLINT_MAX = 2**15 - 1
# Twilio's messages are a line or two, and a callback has about twenty parameters, none longer
# than a URL: the caps keep every one, and keep a hostile body from filling the audit trail.
ERROR_MESSAGE_MAX = 1000
PARAMS_MAX = 100
PARAM_NAME_MAX = 100
PARAM_VALUE_MAX = 1000

ASCII_DIGITS = re.compile(r"[0-9]{1,20}")
CALL_SID_PATTERN = re.compile(CALL_SID)
# Every status but `pending`, which is the service's own (a call not yet sent).
CALLBACK_STATUSES = frozenset(s for s in CallLog.RANK if s != CallLog.Status.PENDING)


def printable(text: str, limit: int) -> str:
    """`text` with each unprintable character escaped (NUL as `\\x00`, a newline as `\\n`) and
    cut to at most `limit` characters, an ellipsis marking the cut."""
    text = text[:limit]  # escaping only lengthens: cut first, so a huge value costs nothing
    text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def audit_params(data: QueryDict) -> dict[str, str]:
    """A webhook's parameters as received, for the audit trail (CallEvent.params): each name and
    value printable and capped, at most PARAMS_MAX of them (the rest counted, not kept)."""
    items = list(data.items())
    params = {
        printable(name, PARAM_NAME_MAX): printable(value, PARAM_VALUE_MAX)
        for name, value in items[:PARAMS_MAX]
    }
    if len(items) > PARAMS_MAX:
        params["…"] = f"{len(items) - PARAMS_MAX} more parameters not kept"
    return params


def validate_printable(value: str) -> None:
    if not value.isprintable():
        raise ValidationError("Control and other unprintable characters are not allowed.")


def validate_printable_ascii(value: str) -> None:
    if not (value.isascii() and value.isprintable()):
        raise ValidationError("Only printable ASCII characters are allowed.")


class WireIntegerField(forms.IntegerField):
    """A count or code as Twilio writes it: ASCII digits, within its column's range.

    Django's IntegerField reads with int(), which also takes '１２', '٣', '1_000', ' 5 ' and '5.0';
    Twilio sends none of these, and a value past the column is a 500 on PostgreSQL.
    """

    def __init__(self, *, max_value: int):
        super().__init__(min_value=0, max_value=max_value, required=False)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if not ASCII_DIGITS.fullmatch(value):
            raise ValidationError("Enter a whole number in ASCII digits.", code="invalid")
        return int(value)


class ReadableTextField(forms.CharField):
    """Text kept for people to read: cleaned rather than refused, so the report still applies."""

    def __init__(self, *, limit: int):
        self.limit = limit
        super().__init__(required=False)

    def to_python(self, value):
        return printable(super().to_python(value), self.limit)


class BadParameters(ValueError):
    """A webhook's parameters that are not as Twilio writes them: the 400's text names each."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("\n".join(f"* {name}\n  * {message}" for name, message in errors.items()))


def _text(value: str | None) -> str:
    """A parameter as a Django CharField reads it: stripped, '' when absent."""
    return (value or "").strip()


def _call_sid(value: str | None) -> str:
    value = _text(value)
    if not value:
        raise ValidationError("This field is required.")
    if not CALL_SID_PATTERN.match(value):
        raise ValidationError("Enter a valid value.")
    return value


def _call_status(value: str | None) -> str:
    if not value:
        raise ValidationError("This field is required.")
    if value not in CALLBACK_STATUSES:
        raise ValidationError(
            f"Select a valid choice. {value} is not one of the available choices."
        )
    return value


def _wire_integer(value: str | None, *, maximum: int) -> int | None:
    """A count or code as Twilio writes it: ASCII digits, within its column's range (see
    WireIntegerField)."""
    if not value:
        return None
    if not ASCII_DIGITS.fullmatch(value):
        raise ValidationError("Enter a whole number in ASCII digits.")
    number = int(value)
    if number > maximum:
        raise ValidationError(f"Ensure this value is less than or equal to {maximum}.")
    return number


def _identifier(value: str | None) -> str:
    """One of Twilio's short identifiers (AnsweredBy, ErrorCode), printable."""
    value = _text(value)
    if len(value) > 32:
        raise ValidationError(f"Ensure this value has at most 32 characters (it has {len(value)}).")
    if value and not value.isprintable():
        raise ValidationError("Control and other unprintable characters are not allowed.")
    return value


# What a status callback carries that the service uses, each read by its cleaner; the rest is
# kept raw. SequenceNumber orders the reports: a wrong one, clamped, would block every later
# report, so it is refused. CallDuration and SipResponseCode are facts: a value no call can have
# is not Twilio's, and refused too. AnsweredBy and ErrorCode are Twilio's identifiers. A plain
# table rather than a Form: a Form deep-copies its fields on every request, about a tenth of
# a callback's time once its database work is one statement.
STATUS_CALLBACK_FIELDS = {
    "CallSid": _call_sid,
    "CallStatus": _call_status,
    "SequenceNumber": lambda value: _wire_integer(value, maximum=INTEGER_MAX),
    "CallDuration": lambda value: _wire_integer(value, maximum=INTEGER_MAX),
    "SipResponseCode": lambda value: _wire_integer(value, maximum=SMALLINT_MAX),
    "AnsweredBy": _identifier,
    "ErrorCode": _identifier,
    "ErrorMessage": lambda value: printable(_text(value), ERROR_MESSAGE_MAX),
}


def status_callback_parse(data: QueryDict) -> dict:
    """A status callback's parameters, cleaned by STATUS_CALLBACK_FIELDS (the last value of a
    repeated one, as a form reads it); BadParameters names every one that is not Twilio's."""
    cleaned, errors = {}, {}
    for name, clean in STATUS_CALLBACK_FIELDS.items():
        try:
            cleaned[name] = clean(data.get(name))
        except ValidationError as error:
            errors[name] = error.messages[0]
    if errors:
        raise BadParameters(errors)
    return cleaned


class MachineVerdictForm(forms.Form):
    """Twilio's answering-machine detection verdict (AsyncAmdStatusCallback). AnsweredBy is acted
    on (a machine gets the voicemail), so only Twilio's documented values are taken."""

    CallSid = forms.RegexField(regex=CALL_SID)
    AnsweredBy = forms.ChoiceField(choices=CallLog.AnsweredBy.choices)
    MachineDetectionDuration = WireIntegerField(max_value=INTEGER_MAX)


class IncomingCallForm(forms.Form):
    """An inbound call. Its addresses (E.164 numbers, `client:` and `sip:` URIs, `anonymous`)
    are ASCII: a full-width digit would still find a business through phonenumbers, then be
    stored as the caller's number, so anything else is refused."""

    CallSid = forms.RegexField(regex=CALL_SID)
    From = forms.CharField(max_length=64, validators=[validate_printable_ascii])
    To = forms.CharField(max_length=64, validators=[validate_printable_ascii])
    CallStatus = forms.CharField(max_length=16, required=False)


class GatherForm(forms.Form):
    """The keys a callee pressed at a <Gather>: digits, * and #, as many as the column holds
    (none when Twilio posts an empty result)."""

    CallSid = forms.RegexField(regex=CALL_SID)
    Digits = forms.RegexField(regex=rf"^[0-9*#]{{0,{DIGITS_MAX}}}\Z", required=False)

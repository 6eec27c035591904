"""What the API reads and answers, as pydantic schemas: django-ninja validates requests and
serialises responses through them and builds the OpenAPI document from them, so the document
and the answers cannot drift apart."""

import json
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from django.conf import settings
from ninja import Header, Schema
from pydantic import AfterValidator, ConfigDict, Field

from calls.models import CallRequest, Campaign
from calls.scripts import Language, Voice

# Characters no text field may hold: PostgreSQL refuses NUL, and no person types the others.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# JSON may escape half a surrogate pair ("\ud800"), which no UTF-8 column can store.
NOT_UTF8 = re.compile("[\x00\ud800-\udfff]")
METADATA_DEPTH = 8
# JSON numbers every client reads exactly (JavaScript's safe integers).
SAFE_INTEGER = 2**53 - 1


def _no_control(value: str) -> str:
    if CONTROL.search(value) or NOT_UTF8.search(value):
        raise ValueError("must not contain control characters or lone surrogates")
    return value


def Text(max_length: int, min_length: int = 0):  # noqa: N802 (a type, read as one)
    return Annotated[
        str, Field(min_length=min_length, max_length=max_length), AfterValidator(_no_control)
    ]


def _metadata_check(value: Any, depth: int = 0) -> None:
    if depth > METADATA_DEPTH:
        raise ValueError(f"must not nest deeper than {METADATA_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            _no_control(key)
            _metadata_check(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _metadata_check(item, depth + 1)
    elif isinstance(value, str):
        if NOT_UTF8.search(value):
            raise ValueError("strings must not contain NUL or lone surrogates")
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        if abs(value) > SAFE_INTEGER:
            raise ValueError(f"integers must lie within ±{SAFE_INTEGER}")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite")


def _metadata_valid(value: dict) -> dict:
    _metadata_check(value)
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > settings.API_METADATA_MAX_BYTES:
        raise ValueError(f"is {size} bytes; at most {settings.API_METADATA_MAX_BYTES}")
    return value


Metadata = Annotated[
    dict[str, Any],
    AfterValidator(_metadata_valid),
    Field(description="Your own data, returned as given (compact JSON of at most a few KB)."),
]
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]


def _moment(value: datetime) -> datetime:
    # Far from today a zone offset can carry a time past year 1 or 9999, which Python cannot
    # hold; a time without a zone is read as UTC.
    if not 1900 <= value.year <= 9000:
        raise ValueError("must lie between the years 1900 and 9000")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


Moment = Annotated[datetime, AfterValidator(_moment)]


IdempotencyKey = Annotated[
    str | None,
    Header(
        None,
        alias="Idempotency-Key",
        pattern=r"^[!-~]{1,255}$",
        description="Retrying with the same key returns the first answer; 24 h by default.",
    ),
]


class StrictIn(Schema):
    # An unknown field is refused by name, so a misspelt one never goes silently unused.
    model_config = ConfigDict(extra="forbid")


class FieldError(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    code: str = Field(description="Stable, for programs: invalid, unauthorized, not-found, …")
    detail: str = Field(description="For people.")
    errors: list[FieldError] = Field(default_factory=list)


class LeadIn(StrictIn):
    name: Text(200) = ""


class CallIn(StrictIn):
    to: Text(32, min_length=1) = Field(description="The number to call, E.164 preferred.")
    campaign: Id | None = None
    lead: LeadIn | None = None
    metadata: Metadata = Field(default_factory=dict)


class AttemptOut(Schema):
    sid: str | None
    status: str
    duration: int | None
    answered_by: str
    price: str | None = Field(
        description=(
            "What Twilio charged for the call, a decimal in price_unit; null until Twilio reports "
            "it (usually minutes after the call ends)."
        )
    )
    price_unit: str
    created_at: datetime
    started_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None


class CallOut(Schema):
    id: int
    to: str
    status: Literal[tuple(CallRequest.Status.values)]  # type: ignore[valid-type]
    campaign: int | None
    lead: int | None
    attempts: int
    max_attempts: int
    reason: str = Field(description="Why the last attempt did not reach the person, if so.")
    next_attempt_at: datetime = Field(description="When it is (or was) due to be dialed.")
    waiting_for: str = Field(
        description=(
            "Why the next attempt waits, when it does: e.g. outside the callee's calling window "
            "until its opening (next_attempt_at)."
        )
    )
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    calls: list[AttemptOut]


class CallPage(Schema):
    items: list[CallOut]
    limit: int
    offset: int
    next_offset: int | None = Field(description="The offset of the next page; null on the last.")


class NumberIn(StrictIn):
    to: Text(32, min_length=1)
    name: Text(200) = ""


class NumbersIn(StrictIn):
    numbers: list[NumberIn] = Field(min_length=1, max_length=settings.API_NUMBERS_MAX)


class CampaignIn(StrictIn):
    name: Text(200, min_length=1)
    concurrency: Annotated[int, Field(ge=1, le=1000)] | None = None
    say_text: Text(4000) = ""
    voice: Literal[tuple(Voice.values)] = ""  # type: ignore[valid-type]
    language: Literal[tuple(Language.values)] = ""  # type: ignore[valid-type]
    recording_url: Text(200) = ""
    numbers: list[NumberIn] = Field(min_length=1, max_length=settings.API_NUMBERS_MAX)


class NumberOut(Schema):
    to: str
    status: Literal["queued", "refused"]
    id: int | None = Field(description="The call request's id, when queued.")
    reason: str = ""


class CallCountsOut(Schema):
    """A campaign's calls, counted as the console counts them (calls/counts.py)."""

    attempts: int = Field(description="Calls placed, or whose create may yet have placed one.")
    placed: int = Field(description="Calls Twilio accepted (a refused call is not placed).")
    reached_person: int = Field(description="Placed calls answered, and not by a machine.")
    reached_machine: int = Field(description="Placed calls answered by a machine or a fax.")
    ended: int = Field(description="Placed calls that ended.")


class CampaignOut(Schema):
    id: int
    name: str
    status: Literal[tuple(Campaign.Status.values)]  # type: ignore[valid-type]
    concurrency: int | None
    say_text: str
    voice: str
    language: str
    recording_url: str
    created_at: datetime
    ended_at: datetime | None
    requests: dict[str, int] = Field(description="Its call requests by status.")
    calls: CallCountsOut


class NumbersOut(Schema):
    queued: int
    refused: int
    numbers: list[NumberOut]


class CampaignCreatedOut(CampaignOut):
    numbers: list[NumberOut]

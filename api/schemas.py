"""What the API reads and answers, as pydantic schemas: django-ninja validates requests and
serialises responses through them and builds the OpenAPI document from them, so the document
and the answers cannot drift apart.

Every constraint the server puts on a request's shape is declared here, where the document
shows it (patterns, lengths, enums, bounds): a client generated from /api/v1/openapi.json
refuses what the server would refuse with a 400. What no schema can say is answered 422 with a
`code`: a number that matches E.164 yet is in no numbering plan, a recording host the business
does not allow, a number on its do-not-call list, a reused Idempotency-Key; and, stated in the
descriptions, metadata's nesting depth and size (tests/integration/test_api_schema.py).
"""

import base64
import json
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Union

from django.conf import settings
from ninja import Header, Schema
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator
from typing_extensions import TypeAliasType

from calls.models import CallRequest, Campaign
from calls.scripts import Language, Voice
from compliance.consent_records import BATCH_MAX
from compliance.models import ConsentRecord
from compliance.purposes import Purpose

# Characters no text field may hold: PostgreSQL refuses NUL, and no person types the others.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The same, as the document's pattern (ECMA and pydantic's regex alike read \x escapes).
NO_CONTROL_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
# JSON may escape half a surrogate pair ("\ud800"), which no UTF-8 column can store.
NOT_UTF8 = re.compile("[\x00\ud800-\udfff]")
# E.164: "+", a country code (never 0), at most 15 digits in all (the shortest plans have 7).
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
# An https URL Django's URLValidator accepts (lower-case host names with a TLD, no port, no
# spaces), or nothing.
RECORDING_URL_PATTERN = r"^$|^https://([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?$"
# Printable ASCII only (no NUL, which PostgreSQL refuses), bounded by the column.
EVIDENCE_URL_PATTERN = r"^$|^https?://[!-~]{1,480}$"
METADATA_DEPTH = 8
METADATA_KEY_MAX = 100
METADATA_STRING_MAX = 1000
METADATA_ITEMS_MAX = 100
# JSON numbers every client reads exactly (JavaScript's safe integers).
SAFE_INTEGER = 2**53 - 1
# Why a field's pattern refused a value, in words, by the pattern (api/errors.py reads it).
PATTERN_MESSAGES = {
    NO_CONTROL_PATTERN: "must not contain control characters",
    E164_PATTERN: "must be a number in E.164 form: + and the country code, digits only "
    "(e.g. +14155550123)",
    RECORDING_URL_PATTERN: "must be an https URL on a named host (e.g. "
    "https://media.example.com/greeting.mp3), or empty",
}


def _no_control(value: str) -> str:
    if CONTROL.search(value) or NOT_UTF8.search(value):
        raise ValueError("must not contain control characters or lone surrogates")
    return value


def Text(max_length: int, min_length: int = 0):  # noqa: N802 (a type, read as one)
    return Annotated[
        str,
        Field(min_length=min_length, max_length=max_length, pattern=NO_CONTROL_PATTERN),
        AfterValidator(_no_control),
    ]


PhoneNumber = Annotated[
    str,
    Field(
        pattern=E164_PATTERN,
        description=(
            "E.164. A number of that form that is in no numbering plan is refused with 422 "
            "(`invalid-number`)."
        ),
        json_schema_extra={"format": "e164", "examples": ["+14155550123"]},
    ),
]


def _metadata_check(value: Any, depth: int = 0) -> None:
    """What MetadataValue declares, checked as declared, and the nesting it cannot declare."""
    if depth > METADATA_DEPTH:
        raise ValueError(f"must not nest deeper than {METADATA_DEPTH} levels")
    if isinstance(value, dict):
        if len(value) > METADATA_ITEMS_MAX:
            raise ValueError(f"objects must hold at most {METADATA_ITEMS_MAX} keys")
        for key, item in value.items():
            _no_control(key)
            if len(key) > METADATA_KEY_MAX:
                raise ValueError(f"keys must be at most {METADATA_KEY_MAX} characters")
            _metadata_check(item, depth + 1)
    elif isinstance(value, list):
        if len(value) > METADATA_ITEMS_MAX:
            raise ValueError(f"arrays must hold at most {METADATA_ITEMS_MAX} items")
        for item in value:
            _metadata_check(item, depth + 1)
    elif isinstance(value, str):
        if NOT_UTF8.search(value):
            raise ValueError("strings must not contain NUL or lone surrogates")
        if len(value) > METADATA_STRING_MAX:
            raise ValueError(f"strings must be at most {METADATA_STRING_MAX} characters")
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int | float):
        # One bound for both: JSON does not tell 1e20 from 100000000000000000000.
        if not math.isfinite(value) or abs(value) > SAFE_INTEGER:
            raise ValueError(f"numbers must lie within ±{SAFE_INTEGER}")
    else:
        raise ValueError("must be JSON")


def _metadata_valid(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    _metadata_check(value)
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > settings.API_METADATA_MAX_BYTES:
        raise ValueError(f"is {size} bytes; at most {settings.API_METADATA_MAX_BYTES}")
    return value


def _key_rules(schema: dict) -> None:
    """pydantic writes a key pattern as patternProperties, which leaves a key that does not match
    it unconstrained: the rule goes to propertyNames, which every key must meet."""
    ((pattern, value),) = schema.pop("patternProperties").items()
    schema["propertyNames"] = {**schema.get("propertyNames", {}), "pattern": pattern}
    schema["additionalProperties"] = value


MetadataKey = Annotated[str, Field(max_length=METADATA_KEY_MAX, pattern=NO_CONTROL_PATTERN)]
# What metadata may hold, for the document: _metadata_valid checks the same bounds, and the
# nesting depth and total size this cannot express.
MetadataValue = TypeAliasType(
    "MetadataValue",
    Union[  # noqa: UP007 (a recursive alias needs the Union form)
        None,
        bool,
        Annotated[float, Field(ge=-SAFE_INTEGER, le=SAFE_INTEGER)],
        Annotated[str, Field(max_length=METADATA_STRING_MAX, pattern=r"^[^\x00]*$")],
        Annotated[list["MetadataValue"], Field(max_length=METADATA_ITEMS_MAX)],
        Annotated[
            dict[MetadataKey, "MetadataValue"],
            Field(max_length=METADATA_ITEMS_MAX, json_schema_extra=_key_rules),
        ],
    ],
)
MetadataObject = Annotated[
    dict[MetadataKey, MetadataValue],
    Field(max_length=METADATA_ITEMS_MAX, json_schema_extra=_key_rules),
]
Metadata = Annotated[
    dict[str, Any],
    PlainValidator(_metadata_valid, json_schema_input_type=MetadataObject),
    Field(
        description=(
            "Your own data, returned as given: JSON nested at most "
            f"{METADATA_DEPTH} levels deep, at most {settings.API_METADATA_MAX_BYTES} bytes "
            "as compact UTF-8 JSON."
        ),
    ),
]
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]


EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _moment(value: datetime) -> datetime:
    """A time without a zone is read as UTC. Far from today a zone offset can carry a time past
    year 1 or 9999, which Python cannot hold: such a time is taken as the bound it lies beyond
    (nothing was created before 1900 or after 9000, so a filter means the same)."""
    if value.year < 1900:
        return EARLIEST
    if value.year >= 9000:
        return LATEST
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


class StrictIn(BaseModel):
    # An unknown field is refused by name, so a misspelt one never goes silently unused.
    # A plain pydantic model: ninja's Schema reads its input through a wrapper made for ORM
    # objects, twice when extra fields are forbidden, which was most of the time of a batch of
    # 10,000 consents.
    model_config = ConfigDict(extra="forbid")


class FieldError(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    code: str = Field(description="Stable, for programs: invalid, unauthorized, not-found, …")
    detail: str = Field(description="For people.")
    errors: list[FieldError] = Field(default_factory=list)


# The form only: whether the calling rules know the region is the endpoint's to say (a 422).
Region = Annotated[
    str,
    Field(
        pattern=r"^([A-Z]{2}(-[A-Z0-9]{1,3})?)?$",
        description=(
            "Where the person lives, as an ISO 3166-2 code (US-FL) the calling rules know: that "
            "region's rules apply besides those of the number's. Kept on the person's lead when "
            "it has none."
        ),
    ),
]


class LeadIn(StrictIn):
    name: Text(200) = ""
    region: Region = ""


class CallIn(StrictIn):
    to: PhoneNumber
    campaign: Id | None = None
    lead: LeadIn | None = None
    metadata: Metadata = Field(default_factory=dict)


class AttemptOut(Schema):
    sid: str | None
    status: str
    from_number: str = Field(
        description=(
            "The caller ID the call showed: a number of the business's pool, chosen when the "
            "call was sent (a retry may show another), or the business's own number."
        )
    )
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


class HeldByOut(Schema):
    rule: str = Field(
        description=(
            "The id of the calling rule that holds the call (e.g. us-fl-telemarketing); empty "
            "when the business's or campaign's own calling window does."
        )
    )
    jurisdiction: str = Field(description="Where the rule is law: US, US-FL, CA, GB, …")
    source: str = Field(description="The statute or regulator page the rule comes from.")
    url: str


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
            "Why the next attempt waits, when it does: the calling rule or window that holds "
            "it and until when, in the callee's time (next_attempt_at)."
        )
    )
    held_by: HeldByOut | None = Field(
        description="What holds a queued call (waiting_for says until when); null when nothing."
    )
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    calls: list[AttemptOut]
    consent: str = Field(
        "",
        description=(
            "On GET /calls/{id}: the consent record that allows the call now, why none may be "
            "placed, or why none is needed. Empty in other answers."
        ),
    )


class CallPage(Schema):
    items: list[CallOut]
    limit: int
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last. Pages hold still "
        "while calls are queued: a page starts after the last item of the previous one."
    )


def cursor_encode(created_at: datetime, pk: int) -> str:
    """The position after a listed item, opaque to clients: its creation time and id."""
    text = f"{created_at.astimezone(UTC).isoformat()}|{pk}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def cursor_decode(value: str) -> tuple[datetime, int] | None:
    """The position a cursor names; None for a string this API never gave (it is opaque, so
    its form alone cannot say: the endpoint answers 422)."""
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        moment, pk = text.split("|")
        position = datetime.fromisoformat(moment), int(pk)
    except ValueError:
        return None
    if position[0].tzinfo is None or not 1 <= position[1] < 2**63:
        return None
    return position


Cursor = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$", min_length=8, max_length=80)]


class NumberIn(StrictIn):
    to: PhoneNumber
    name: Text(200) = ""
    region: Region = ""


class NumbersIn(StrictIn):
    numbers: list[NumberIn] = Field(min_length=1, max_length=settings.API_NUMBERS_MAX)


class CampaignIn(StrictIn):
    name: Text(200, min_length=1)
    purpose: Literal[tuple(Purpose.values)] = Field(  # type: ignore[valid-type]
        description="Which calling rules hold its calls; required, fixed once created."
    )
    concurrency: Annotated[int, Field(ge=1, le=1000)] | None = None
    say_text: Text(4000) = ""
    voice: Literal[tuple(Voice.values)] = ""  # type: ignore[valid-type]
    language: Literal[tuple(Language.values)] = ""  # type: ignore[valid-type]
    recording_url: Annotated[
        str,
        Field(
            max_length=200,
            pattern=RECORDING_URL_PATTERN,
            description=(
                "Played before the text. Its host must be one the business allows, else 422 "
                "(`recording-host-not-allowed`)."
            ),
        ),
    ] = ""
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
    purpose: Literal[tuple(Purpose.values)]  # type: ignore[valid-type]
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


Kind = ConsentRecord.Kind
CONSENTS_BATCH_MAX = BATCH_MAX
OPT_OUTS_MAX = 1000


class ConsentIn(StrictIn):
    to: PhoneNumber
    kind: Literal[tuple(Kind.values)] = Field(  # type: ignore[valid-type]
        description="written (prior express written consent), express (prior express consent) "
        "or business_relationship (with `relationship` and `relationship_at`)."
    )
    purposes: list[Literal[tuple(Purpose.values)]] = Field(  # type: ignore[valid-type]
        min_length=1, max_length=len(Purpose.values), description="The purposes it covers."
    )
    source: Literal[tuple(ConsentRecord.Source.values)] = "api"  # type: ignore[valid-type]
    captured_at: Moment = Field(
        description="When the person gave it; more than 5 minutes ahead answers 422."
    )
    evidence: Text(4000) = Field("", description="What the person agreed to, and how.")
    evidence_url: Annotated[str, Field(max_length=500, pattern=EVIDENCE_URL_PATTERN)] = ""
    evidence_sha256: Annotated[str, Field(pattern=r"^$|^[0-9a-f]{64}$")] = Field(
        "",
        description="SHA-256 of the evidence document, hex. One of the three evidence fields "
        "must be given (else 422 `invalid-consent`).",
    )
    relationship: Literal[tuple(["", *ConsentRecord.Relationship.values])] = Field(  # type: ignore[valid-type]
        "",
        description="A business relationship's: its last transaction (18 months) or an "
        "inquiry (3 months).",
    )
    relationship_at: Moment | None = None
    expires_at: Moment | None = Field(
        None, description="An earlier end than the kind's own, if the consent has one."
    )


ConsentBatch = Annotated[list[ConsentIn], Field(min_length=1, max_length=CONSENTS_BATCH_MAX)]


class ConsentOut(Schema):
    id: int
    to: str = Field(description="E.164, or `erased` once the number was erased.")
    kind: Literal[tuple(Kind.values)]  # type: ignore[valid-type]
    purposes: list[str]
    source: str
    captured_at: datetime
    evidence: str
    evidence_url: str
    evidence_sha256: str
    relationship: str
    relationship_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_via: str
    created_at: datetime


class ConsentsRecorded(Schema):
    recorded: int = Field(description="How many consents the batch recorded: all it held.")
    ids: list[int] = Field(description="Their ids, in the order of the batch.")


class ConsentList(Schema):
    items: list[ConsentOut]


class OptOutIn(StrictIn):
    to: PhoneNumber
    reason: Text(400) = ""


OptOutBatch = Annotated[list[OptOutIn], Field(min_length=1, max_length=OPT_OUTS_MAX)]


class OptOutOut(Schema):
    to: str
    consents_revoked: int = Field(description="Consents of the number this revoked.")
    requests_canceled: int = Field(description="Queued calls to the number this canceled.")

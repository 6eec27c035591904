"""Recording consents (the admin, the API, in bulk) and erasing the person's details from them.

A record is written once and never edited: what changes later is its revocation (opt_outs) and,
on erasure, the removal of the number and of the evidence's text and URL (the keyed hash of the
number, the document's hash, the dates and the revocation stay, as the proof and the opt-out)."""

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import islice

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from calls.models import Business
from calls.phone import to_e164
from compliance.consent import relationship_expiry
from compliance.models import ConsentRecord
from compliance.purposes import Purpose

Kind = ConsentRecord.Kind
KINDS = frozenset(Kind.values)
SOURCES = frozenset(ConsentRecord.Source.values)
PURPOSES = frozenset(Purpose.values)
RELATIONSHIPS = frozenset(ConsentRecord.Relationship.values)
EVIDENCE_URL_MAX = ConsentRecord._meta.get_field("evidence_url").max_length
SHA256 = re.compile(r"[0-9a-f]{64}")
# A consent captured "in the future" by more than this is a client's clock or a mistake.
CLOCK_SKEW = timedelta(minutes=5)
# Consents recorded in one call at most (the API's list; the CSV import one COPY per as many).
BATCH_MAX = 10_000
INSERT_BATCH = 1000
# What an erasure leaves of the number.
ERASED = "erased"


@dataclass
class ConsentGiven:
    """One consent as it is given, before it is checked (consent_record_build)."""

    number: str
    kind: str
    purposes: list[str]
    source: str
    captured_at: datetime
    evidence_text: str = ""
    evidence_url: str = ""
    evidence_sha256: str = ""
    relationship: str = ""
    relationship_at: datetime | None = None
    expires_at: datetime | None = None


def consent_checked(given: ConsentGiven, *, now: datetime) -> dict:
    """The fields of the ConsentRecord for `given` (by attribute name, all but the business, the
    id and who made it); ValidationError (by field) when it is not one: a number, at least one
    purpose, evidence (text, a URL or a document's hash), a capture time not after `now`, and
    for a business relationship its kind and date (its expiry follows from them: 18 months after
    a transaction, 3 after an inquiry; an earlier one given is kept)."""
    errors = {}
    try:
        number = to_e164(given.number)
    except ValidationError as error:
        errors["to"] = " ".join(error.messages)
        number = ""
    if given.kind not in KINDS:
        errors["kind"] = f"One of: {', '.join(Kind.values)}."
    if given.source not in SOURCES:
        errors["source"] = f"One of: {', '.join(ConsentRecord.Source.values)}."
    purposes = sorted(set(given.purposes))
    if not purposes or not PURPOSES.issuperset(purposes):
        errors["purposes"] = f"One or more of: {', '.join(Purpose.values)}."
    if not (given.evidence_text or given.evidence_url or given.evidence_sha256):
        errors["evidence"] = "Say how the consent was given: its text, a URL or a document's hash."
    if "\x00" in given.evidence_text or "\x00" in given.evidence_url:
        errors["evidence"] = "The evidence cannot hold a NUL character."
    if len(given.evidence_url) > EVIDENCE_URL_MAX:
        errors["evidence_url"] = f"At most {EVIDENCE_URL_MAX} characters."
    sha256 = given.evidence_sha256.lower()
    if sha256 and not SHA256.fullmatch(sha256):
        errors["evidence_sha256"] = "64 hex digits."
    if given.captured_at > now + CLOCK_SKEW:
        errors["captured_at"] = "A consent cannot be captured in the future."
    expires_at = given.expires_at
    if given.kind == Kind.BUSINESS_RELATIONSHIP:
        if given.relationship not in RELATIONSHIPS or given.relationship_at is None:
            errors["relationship"] = (
                "A business relationship needs its kind (transaction or inquiry) and date."
            )
        else:
            term_end = relationship_expiry(
                relationship=given.relationship, at=given.relationship_at
            )
            expires_at = min(expires_at, term_end) if expires_at else term_end
    elif given.relationship or given.relationship_at:
        errors["relationship"] = "Only a business relationship has a relationship and its date."
    if errors:
        raise ValidationError(errors)
    return {
        "phone_number": number,
        "kind": given.kind,
        "purposes": purposes,
        "source": given.source,
        "captured_at": given.captured_at,
        "relationship": given.relationship,
        "relationship_at": given.relationship_at,
        "expires_at": expires_at,
        "evidence_text": given.evidence_text,
        "evidence_url": given.evidence_url,
        "evidence_sha256": sha256,
    }


def consent_record_build(*, business: Business, given: ConsentGiven, created_by=None):
    """The unsaved ConsentRecord for `given` (consent_checked's rules)."""
    return ConsentRecord(
        business=business,
        created_by=created_by if created_by and created_by.is_authenticated else None,
        **consent_checked(given, now=timezone.now()),
    )


def consents_record(*, business: Business, given: list[ConsentGiven], created_by=None) -> list[int]:
    """Records every consent of `given`, or none: ValidationError keyed by each bad one's index
    ("3.to"). Returns their ids, in the order given."""
    if len(given) > BATCH_MAX:
        raise ValidationError({"": f"At most {BATCH_MAX} consents at a time."})
    now = timezone.now()
    rows, errors = [], {}
    for index, one in enumerate(given):
        try:
            rows.append(consent_checked(one, now=now))
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                errors[f"{index}.{name}"] = " ".join(messages)
    if errors:
        raise ValidationError(errors)
    created_by_id = created_by.pk if created_by and created_by.is_authenticated else None
    with transaction.atomic():
        return consents_insert(
            business_id=business.pk, rows=rows, created_by_id=created_by_id, now=now
        )


# What COPY writes for each row, in the model's column order; the values of the free-text
# ones are escaped for COPY's text format.
COPY_COLUMNS = [
    "id",
    "business_id",
    "phone_number",
    "kind",
    "purposes",
    "source",
    "captured_at",
    "relationship",
    "relationship_at",
    "expires_at",
    "evidence_text",
    "evidence_url",
    "evidence_sha256",
    "revoked_at",
    "revoked_via",
    "revoked_note",
    "number_hash",
    "created_at",
    "created_by_id",
]
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"


def _copy_moment(moment: datetime | None) -> str:
    if moment is None:
        return NULL
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment.isoformat()


@cache
def _purposes_json(purposes: tuple[str, ...]) -> str:
    # A handful of combinations of three purposes, each a closed set's word: nothing to escape.
    return json.dumps(list(purposes))


def _copy_lines(*, ids, rows, business_id, created_by_id, now):
    business = str(business_id)
    created_by = NULL if created_by_id is None else str(created_by_id)
    created_at = _copy_moment(now)
    for pk, row in zip(ids, rows, strict=True):
        yield (
            "\t".join(
                (
                    str(pk),
                    business,
                    row["phone_number"],
                    row["kind"],
                    _purposes_json(tuple(row["purposes"])),
                    row["source"],
                    _copy_moment(row["captured_at"]),
                    row["relationship"],
                    _copy_moment(row["relationship_at"]),
                    _copy_moment(row["expires_at"]),
                    row["evidence_text"].translate(COPY_ESCAPES),
                    row["evidence_url"].translate(COPY_ESCAPES),
                    row["evidence_sha256"],
                    NULL,
                    "",
                    "",
                    "",
                    created_at,
                    created_by,
                )
            )
            + "\n"
        )


class CopyStream:
    """COPY's input, read a block of lines at a time as they are made: PostgreSQL parses and
    inserts one block while the next is formatted, on the other core."""

    BLOCK = 500

    def __init__(self, lines):
        self.lines = lines

    def read(self, size=-1) -> str:
        # psycopg2 sends whatever a read returns; an empty string ends the COPY.
        return "".join(islice(self.lines, self.BLOCK))


def consents_insert(
    *, business_id: int, rows: list[dict], created_by_id: int | None, now: datetime
) -> list[int]:
    """Inserts consent_checked's `rows` for the business, created `now`; their ids, in order.

    On PostgreSQL with COPY, the ids drawn from the table's sequence first: an INSERT of
    many rows spends most of its time in Django building its parameters, field by field, and
    the bulk import of consents must reach 20,000 rows a second (issue 21). Elsewhere
    (SQLite) with bulk_create."""
    if connection.vendor != "postgresql":
        records = [
            ConsentRecord(business_id=business_id, created_by_id=created_by_id, **row)
            for row in rows
        ]
        return [
            record.pk
            for record in ConsentRecord.objects.bulk_create(records, batch_size=INSERT_BATCH)
        ]
    table = ConsentRecord._meta.db_table
    with connection.cursor() as cursor:
        # The sequence found once (an InitPlan): pg_get_serial_sequence per row was 6 ms of
        # catalog lookups per 1,000 ids, under load.
        cursor.execute(
            "SELECT nextval((SELECT pg_get_serial_sequence(%s, 'id')::regclass)) AS id "
            "FROM generate_series(1, %s) ORDER BY id",
            [table, len(rows)],
        )
        ids = [pk for (pk,) in cursor.fetchall()]
        lines = _copy_lines(
            ids=ids, rows=rows, business_id=business_id, created_by_id=created_by_id, now=now
        )
        cursor.copy_expert(
            f"COPY {table} ({', '.join(COPY_COLUMNS)}) FROM STDIN", CopyStream(lines)
        )
    return ids


# The columns of a CSV import (manage.py import_consents), by name in its header row.
CSV_COLUMNS = [
    "number",
    "kind",
    "purposes",
    "source",
    "captured_at",
    "evidence",
    "evidence_url",
    "evidence_sha256",
    "relationship",
    "relationship_at",
    "expires_at",
]


def _moment(text: str, name: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = parse_datetime(text)
    except ValueError:
        moment = None
    if moment is None:
        raise ValidationError({name: "Not a date and time (ISO 8601, e.g. 2026-11-20T10:00:00Z)."})
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def consent_given_from_csv(row: dict) -> ConsentGiven:
    """One CSV row (CSV_COLUMNS by name) as given; purposes separated by ";" or spaces, times
    in ISO 8601 (UTC when no offset). ValidationError names a column that cannot be read."""
    cell = {name: (row.get(name) or "").strip() for name in CSV_COLUMNS}
    if not cell["captured_at"]:
        raise ValidationError({"captured_at": "When the person gave it is required."})
    return ConsentGiven(
        number=cell["number"],
        kind=cell["kind"],
        purposes=cell["purposes"].replace(";", " ").split(),
        source=cell["source"] or ConsentRecord.Source.IMPORT,
        captured_at=_moment(cell["captured_at"], "captured_at"),
        evidence_text=cell["evidence"],
        evidence_url=cell["evidence_url"],
        evidence_sha256=cell["evidence_sha256"],
        relationship=cell["relationship"],
        relationship_at=_moment(cell["relationship_at"], "relationship_at"),
        expires_at=_moment(cell["expires_at"], "expires_at"),
    )


def consents_import(*, business: Business, rows: Iterable[tuple[int, dict]]) -> int:
    """Records the consents of a CSV file's rows ((line, row) pairs), BATCH_MAX at a time, all or
    none: ValidationError keyed by each bad row's line ("line 7: to"). Returns how many."""
    recorded, rows, now = 0, iter(rows), timezone.now()
    with transaction.atomic():
        while chunk := list(islice(rows, BATCH_MAX)):
            checked, errors = [], {}
            for line, row in chunk:
                try:
                    checked.append(consent_checked(consent_given_from_csv(row), now=now))
                except ValidationError as error:
                    for name, messages in error.message_dict.items():
                        errors[f"line {line}: {name}"] = " ".join(messages)
            if errors:
                raise ValidationError(errors)
            recorded += len(
                consents_insert(business_id=business.pk, rows=checked, created_by_id=None, now=now)
            )
    return recorded


def consents_erase(*, business_id: int, number: str, number_hash: str) -> list[int]:
    """The erasure's part: the business's consents for `number` lose the number and the
    evidence's text and URL (both may name the person) and keep a keyed hash of the number, the
    document's hash, the dates and the revocation; one not yet revoked is revoked (it can no
    longer be matched to a number). Returns the ids of the rows erased."""
    rows = ConsentRecord.objects.filter(business_id=business_id, phone_number=number)
    ids = list(rows.values_list("pk", flat=True))
    ConsentRecord.objects.filter(pk__in=ids, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_via=ConsentRecord.RevokedVia.ERASURE
    )
    ConsentRecord.objects.filter(pk__in=ids).update(
        phone_number=ERASED,
        number_hash=number_hash,
        evidence_text="",
        evidence_url="",
        revoked_note="",
    )
    return ids


def consents_for(*, business: Business, number: str | None = None):
    """The business's consent records, newest first; only `number`'s when given (E.164)."""
    rows = ConsentRecord.objects.filter(business=business)
    if number is not None:
        rows = rows.filter(phone_number=number)
    return rows.order_by("-captured_at", "-id")

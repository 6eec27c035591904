"""Do-not-call lists: numbers a business (or, with no business, every business) must not call.

Enqueue refuses a listed number and dispatch checks again when it claims a request, so a number
listed after it was queued is never dialed. A callee who presses the opt-out key during a call
is listed here too. The rows outlive an erasure of the number: the opt-out is what the law
requires the service to remember.
"""

import csv
import io
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from calls.models import CallLog
from calls.models.call_logs import DIGITS_MAX
from calls.phone import to_e164
from compliance.models import REASON_MAX, DoNotCall

logger = logging.getLogger(__name__)

# Every request canceled at claim for a listed number has a last_error starting with this:
# per-campaign counts of calls blocked by the list are a `last_error__startswith` on it.
DO_NOT_CALL_PREFIX = "On the do-not-call list"
OPT_OUT_DIGIT = "9"
OPT_OUT_REASON = "opted out by keypress during call {sid}"
# One import at most: a national list is far larger and belongs in its own store.
IMPORT_MAX_ROWS = 50_000
IMPORT_MAX_BYTES = 5_000_000
# A number as people write it ("+1 (415) 555-0123 ext. 12") is far shorter; a longer cell is
# refused without being parsed or shown whole.
NUMBER_CELL_MAX = 64
# Numbers per lookup query: well under SQLite's and PostgreSQL's parameter limits.
LOOKUP_BATCH = 500
EXPORT_HEADER = ["number", "reason", "business", "created_at", "source_call"]


def do_not_call_listed(*, business_id: int, numbers: Iterable[str]) -> dict[str, DoNotCall]:
    """The listed ones of `numbers` (E.164), each with its row: the business's own if it has
    one, else the row for every business. One query per LOOKUP_BATCH numbers."""
    numbers = sorted(set(numbers))
    listed = {}
    for start in range(0, len(numbers), LOOKUP_BATCH):
        rows = DoNotCall.objects.filter(phone_number__in=numbers[start : start + LOOKUP_BATCH])
        rows = rows.filter(Q(business_id=business_id) | Q(business__isnull=True))
        for row in rows:
            if row.business_id is not None or row.phone_number not in listed:
                listed[row.phone_number] = row
    return listed


# What a business reads when the list of every business holds a number: that list is the
# superusers', and its reasons may be in words no business should read (another business's
# complaint, a court order, a litigator's name).
EVERY_BUSINESS = "of every business"


def do_not_call_reason(row: DoNotCall) -> str:
    """Why a request to a listed number was canceled, as its business reads it (the request's
    last error, its webhook, the API): DO_NOT_CALL_PREFIX, then the business's own reason; for
    the list of every business, no reason."""
    if row.business_id is None:
        return f"{DO_NOT_CALL_PREFIX} {EVERY_BUSINESS}."
    return f"{DO_NOT_CALL_PREFIX}: {row.reason or 'no reason given'}"


def do_not_call_refusal(number: str, row: DoNotCall) -> str:
    """Why queuing `number` was refused, as its business reads it (the same rule)."""
    if row.business_id is None:
        return f"{number} is on the do-not-call list {EVERY_BUSINESS}."
    return (
        f"{number} is on the do-not-call list of this business: {row.reason or 'no reason given'}"
    )


def do_not_call_add(
    *,
    business_id: int | None,
    number: str,
    reason: str = "",
    created_by=None,
    source_call: CallLog | None = None,
) -> tuple[DoNotCall, bool]:
    """Lists `number` (normalised; ValidationError if it is no number); a number already listed
    keeps its row and reason. Returns the row and whether it is new."""
    number = to_e164(number)
    return DoNotCall.objects.get_or_create(
        business_id=business_id,
        phone_number=number,
        defaults={
            "reason": reason[:REASON_MAX],
            "created_by": created_by if created_by and created_by.is_authenticated else None,
            "source_call": source_call,
        },
    )


@dataclass
class ImportRow:
    line: int
    number: str
    reason: str = ""
    outcome: str = ""  # "added", "already listed" or, for a refused row, why


@dataclass
class ImportResult:
    rows: list[ImportRow]

    @property
    def refused(self) -> list[ImportRow]:
        return [r for r in self.rows if r.outcome not in ("added", "already listed")]

    def count(self, outcome: str) -> int:
        return sum(r.outcome == outcome for r in self.rows)

    def summary(self) -> str:
        return (
            f"{self.count('added')} added, {self.count('already listed')} already listed, "
            f"{len(self.refused)} refused."
        )


class ImportRefused(Exception):
    """The file as a whole cannot be read (not UTF-8, too many rows); nothing was stored."""


def do_not_call_rows(content: bytes | str) -> list[ImportRow]:
    """The rows of a CSV file (number, then an optional reason; other columns ignored), numbered
    by their line in the file; a header row (no digit in its first cell) and blank lines are
    skipped. A reason's unprintable characters (NUL, which PostgreSQL refuses, tabs) become
    spaces. Raises ImportRefused for a file that is not UTF-8 or has too many rows."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ImportRefused("The file is not UTF-8 text (save it as CSV UTF-8).") from error
    rows = []
    try:
        for line, cells in enumerate(csv.reader(io.StringIO(content)), start=1):
            cells = [c.strip() for c in cells]
            if not cells or not cells[0]:
                continue
            if line == 1 and not any(ch.isdigit() for ch in cells[0]):
                continue
            reason = "".join(c if c.isprintable() else " " for c in (cells[1:] or [""])[0])
            rows.append(ImportRow(line=line, number=cells[0], reason=reason.strip()))
            if len(rows) > IMPORT_MAX_ROWS:
                raise ImportRefused(f"More than {IMPORT_MAX_ROWS} rows: split the file.")
    except csv.Error as error:
        raise ImportRefused(f"Not a CSV file: {error}") from error
    return rows


def do_not_call_import(
    *, business_id: int | None, rows: list[ImportRow], created_by=None
) -> ImportResult:
    """Lists each row's number for the business (None: every business). A row is added, already
    listed (its reason left as it was) or refused with why; a bad row stops nothing."""
    valid = {}
    for row in rows:
        if len(row.number) > NUMBER_CELL_MAX:
            row.number = row.number[:NUMBER_CELL_MAX] + "…"
            row.outcome = f"Not a phone number: longer than {NUMBER_CELL_MAX} characters."
            continue
        try:
            number = to_e164(row.number)
        except ValidationError as error:
            row.outcome = " ".join(error.messages)
            continue
        if len(row.reason) > REASON_MAX:
            row.outcome = f"The reason is longer than {REASON_MAX} characters."
            continue
        if number in valid:
            row.outcome = "already listed"
            continue
        valid[number] = row
    user = created_by if created_by and created_by.is_authenticated else None
    with transaction.atomic():
        existing = set()
        numbers = sorted(valid)
        for start in range(0, len(numbers), LOOKUP_BATCH):
            existing |= set(
                DoNotCall.objects.filter(
                    business_id=business_id, phone_number__in=numbers[start : start + LOOKUP_BATCH]
                ).values_list("phone_number", flat=True)
            )
        new = [n for n in numbers if n not in existing]
        # ignore_conflicts: a row another import or a keypress listed meanwhile is kept as it is.
        DoNotCall.objects.bulk_create(
            [
                DoNotCall(
                    business_id=business_id,
                    phone_number=n,
                    reason=valid[n].reason,
                    created_by=user,
                )
                for n in new
            ],
            batch_size=LOOKUP_BATCH,
            ignore_conflicts=True,
        )
    for number, row in valid.items():
        row.outcome = "already listed" if number in existing else "added"
    return ImportResult(rows)


def do_not_call_export_lines(rows) -> Iterator[list[str]]:
    """The CSV lines of `rows` (a DoNotCall queryset), importable again: number and reason come
    first; the rows for every business, then each business's."""
    yield EXPORT_HEADER
    rows = rows.select_related("source_call").order_by(
        F("business_id").asc(nulls_first=True), "phone_number"
    )
    for row in rows.iterator(chunk_size=LOOKUP_BATCH):
        yield [
            row.phone_number,
            row.reason,
            "" if row.business_id is None else str(row.business_id),
            row.created_at.isoformat(),
            (row.source_call.call_sid or "") if row.source_call else "",
        ]


@dataclass
class Keypress:
    digits: str
    opted_out: bool = False
    listed: DoNotCall | None = None
    # Why the keypress was not taken (the report is not about this call as it is now).
    refused: str = ""


# A callee who presses the key and hangs up at once: Twilio may report the end while its
# request for the keypress is still on its way, and an opt-out must not be lost to that race.
KEYPRESS_AFTER_END = timedelta(seconds=60)


def keypress_refusal(*, call: CallLog, call_sid: str) -> str:
    """Why a keypress report does not belong to `call`, or "": it must carry the call's own SID
    (as the machine verdict must), and the call must be one this service placed and still live.
    Twilio signs the report but not when it was sent, so a captured one could be replayed."""
    if call.direction != CallLog.Direction.OUTBOUND:
        return "not a call this service placed"
    if call.call_sid and call.call_sid != call_sid:
        return f"it carries SID {call_sid}, not the call's"
    if call.is_terminal and (
        call.ended_at is None or call.ended_at < timezone.now() - KEYPRESS_AFTER_END
    ):
        return "the call has ended"
    return ""


def call_keypress_record(*, call: CallLog, digits: str, call_sid: str) -> Keypress:
    """Records the keys pressed during `call`; the opt-out key is a revocation
    (compliance.opt_outs): it lists its other party on the business's do-not-call list, naming
    the call, revokes their consents and cancels their queued calls. The keys are stored first,
    in their own statement: the revocation locks the business, which comes before the call in
    the lock order. A report that is not this live call's is refused and changes nothing. A
    number that cannot be listed (an erased or withheld one) is logged, not raised: the callee
    still hears the call end."""
    if refused := keypress_refusal(call=call, call_sid=call_sid):
        logger.warning("Keypress report for call %s refused: %s", call.pk, refused)
        return Keypress("", refused=refused)
    digits = digits[:DIGITS_MAX]
    CallLog.objects.filter(pk=call.pk).update(digits=digits, updated_at=timezone.now())
    if digits != OPT_OUT_DIGIT:
        return Keypress(digits)
    # Imported here: compliance.opt_outs lists numbers through this module.
    from compliance.opt_outs import Via, number_opt_out

    sid = call.call_sid or call_sid
    try:
        opt_out = number_opt_out(
            business_id=call.business_id,
            number=call.other_party,
            via=Via.KEYPRESS,
            reason=OPT_OUT_REASON.format(sid=sid),
            source_call=call,
        )
    except ValidationError:
        logger.warning("Call %s: opt-out key pressed, but its number cannot be listed", sid)
        return Keypress(digits, opted_out=True)
    logger.info("Call %s: the callee opted out; listed for business %s", sid, call.business_id)
    return Keypress(digits, opted_out=True, listed=opt_out.listed)

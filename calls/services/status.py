"""The call status machine: applying a report about a call, and settling the request of a call
that ended. Whatever ends a call (callback, create error, cleanup, reconcile, operator) comes
through `call_status_apply`, and so through `call_attempt_ended`."""

import enum
import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from calls.models import Business, CallLog, CallRequest, Campaign
from calls.services.call_facts import facts_fill, facts_moving
from calls.services.calling_rules import next_attempt_fields
from calls.services.locks import request_lock
from calls.services.task_queue import task_queue_after_commit
from calls.tasks import create_lead_from_call, dispatch, hang_up_call

logger = logging.getLogger(__name__)

Status = CallLog.Status
EndedBy = CallLog.EndedBy


class Retry(enum.Enum):
    BACKOFF = "backoff"  # the attempt counts; retry after the business's backoff
    UNCOUNTED = "uncounted"  # nothing was placed: retry after backoff, attempt not counted
    THROTTLED = "throttled"  # Twilio throttled the create: retry after a given delay, uncounted
    RELEASE = "release"  # never sent: back to the queue at once, attempt not counted
    NEVER = "never"  # this number can never be reached: fail the request


@dataclass(frozen=True)
class StatusReport:
    """What a callback or a fetch says about a call."""

    status: str
    sequence_number: int | None = None
    duration_seconds: int | None = None
    answered_by: str = ""
    error_code: str = ""
    error_message: str = ""
    sip_response_code: int | None = None


def call_status_apply(
    *,
    call: CallLog,
    report: StatusReport,
    ended_by: str = EndedBy.TWILIO,
    retry=Retry.BACKOFF,
    delay: timedelta | None = None,
    where: Q | None = None,
    from_twilio: bool = True,
) -> bool:
    """Moves a call forward to `report.status`; True when it did.

    One conditional UPDATE: only a status of higher rank, and a higher sequence number when both
    carry one, applies, so duplicates, stale and reordered reports are no-ops, and two callbacks
    racing on two web workers cannot both win. `where` adds the caller's own condition (e.g.
    "never sent"), repeated in that UPDATE so a writer that changed the row since the caller read
    it wins. What Twilio says (`from_twilio`, a callback or a fetch, as opposed to a conclusion of
    the service's own) is a fact even when it comes late: a report that cannot move the status
    still fills the facts the call is missing (see call_facts); and the end of a call an
    operator asked to hang up is recorded as ended by the operator. A conclusion of the service's
    own must do neither: it must not land on a call that moved on, and a call the service gave up
    on yet Twilio still has must stay recognisable as reaped (callbacks._is_reaped_but_live).
    `delay` is the wait before a throttled retry. Must run inside a transaction.
    """
    terminal = report.status in CallLog.TERMINAL_STATUSES
    request = None
    if terminal and call.request_id:
        request = request_lock(request_id=call.request_id)
    now = timezone.now()
    moves, changes = status_move_terms(report, now)
    if terminal and from_twilio:
        # Twilio reports a call it hung up as completed: the operator who asked ended it.
        ended_by = Case(
            When(hang_up_requested_by__isnull=False, then=Value(EndedBy.OPERATOR)),
            default=Value(ended_by),
        )
    if terminal:
        # Nudges start again from nothing for the lead task (see cleanup).
        changes.update(ended_at=now, ended_by=ended_by, nudge_due_at=None, nudge_count=0)
    rows = CallLog.objects.filter(moves, pk=call.pk)
    if where is not None:
        rows = rows.filter(where)
    if not rows.update(**changes):
        if from_twilio:
            facts_fill(call_id=call.pk, report=report, now=now)
        return False
    if terminal:
        call.refresh_from_db()
        call_attempt_ended(call=call, request=request, retry=retry, delay=delay)
    return True


def status_move_terms(report: StatusReport, now) -> tuple[Q, dict]:
    """When `report` moves a call (a status of higher rank, and a higher sequence number when
    both carry one) and what it then changes besides a terminal report's end."""
    moves = Q(status__in=CallLog.statuses_before(report.status))
    changes = {"status": report.status, "updated_at": now, **facts_moving(report, now)}
    if report.sequence_number is not None:
        moves &= Q(last_sequence_number__isnull=True) | Q(
            last_sequence_number__lt=report.sequence_number
        )
        changes["last_sequence_number"] = report.sequence_number
    return moves, changes


def call_attempt_ended(
    *,
    call: CallLog,
    request: CallRequest | None = None,
    retry: Retry = Retry.BACKOFF,
    delay: timedelta | None = None,
) -> None:
    """Settles the request of a call that just reached a terminal status (same transaction);
    `request` is the call's request as its lock read it, if the caller took that lock."""
    if call.direction == CallLog.Direction.OUTBOUND:
        # Before the lead task: refilling the freed slot is what a paid-for line waits on.
        task_queue_after_commit(dispatch, call.business_id)
    if call.call_sid:
        task_queue_after_commit(create_lead_from_call, call.call_sid)
    if call.direction != CallLog.Direction.OUTBOUND or not call.request_id:
        return
    if request is None:
        request = CallRequest.objects.select_related("business", "campaign").get(pk=call.request_id)
    active = CallRequest.objects.filter(pk=request.pk, status=CallRequest.Status.ACTIVE)
    ended = call.get_status_display().lower()
    reason = call.error_message or f"The last attempt ended {ended}."
    if request.cancel_requested_at:
        # Asked while the call was live or being placed: whatever ended it, nothing follows.
        active.status_move(
            CallRequest.Status.CANCELED, last_error=f"Canceled by request; the call ended {ended}."
        )
    elif call.status == Status.COMPLETED and call.reached_machine:
        _machine_reached(active=active, request=request, call=call)
    elif call.status == Status.COMPLETED:
        active.status_move(CallRequest.Status.DONE, last_error="")
    elif call.status == Status.CANCELED:
        active.status_move(CallRequest.Status.CANCELED, last_error=reason)
    elif retry is Retry.NEVER:
        active.status_move(CallRequest.Status.FAILED, last_error=reason)
    else:
        attempts = request.attempts - (0 if retry is Retry.BACKOFF else 1)
        why_not = _why_no_retry(request, attempts)
        if why_not:
            active.status_move(CallRequest.Status.FAILED, last_error=f"{reason} {why_not}")
            return
        changes = {}
        if retry is Retry.RELEASE:
            delay = timedelta(0)
        elif retry is Retry.THROTTLED:
            changes["throttled_count"] = F("throttled_count") + 1
        else:
            delay = retry_delay(request.business, attempts)
        # A retry that would land where the calling rules or the window forbid waits for their
        # opening.
        changes |= next_attempt_fields(request=request, delay=delay or timedelta(0))
        active.status_move(
            CallRequest.Status.QUEUED, attempts=attempts, last_error=reason, **changes
        )


def _machine_reached(*, active, request: CallRequest, call: CallLog) -> None:
    """An answered call that reached a machine: the attempt counts, and the request is tried
    again after its campaign's machine delay (a day by default) while attempts remain; with no
    delay (0 h) the campaign settles for the machine and the request is done."""
    left = "; the voicemail message was left" if call.voicemail_left_at else ""
    reason = f"Reached an answering machine ({call.answered_by}){left}."
    campaign = request.campaign or Campaign()  # without a campaign: the default rule
    delay = campaign.machine_retry_delay
    if delay is None:
        active.status_move(
            CallRequest.Status.DONE, last_error=f"{reason} Not tried again: the campaign says so."
        )
        return
    why_not = _why_no_retry(request, request.attempts)
    if why_not:
        active.status_move(CallRequest.Status.FAILED, last_error=f"{reason} {why_not}")
        return
    # Like any retry, one that would land where the calling rules forbid waits for them.
    changes = next_attempt_fields(request=request, delay=delay)
    active.status_move(
        CallRequest.Status.QUEUED,
        last_error=f"{reason} Trying again in {delay.total_seconds() / 3600:g} h.",
        **changes,
    )


def _why_no_retry(request: CallRequest, attempts: int) -> str:
    if attempts >= request.max_attempts:
        return f"Gave up after {attempts} attempt{'s' if attempts != 1 else ''}."
    if request.campaign and not request.campaign.allows_retries:
        return f"Not retried: the campaign is {request.campaign.status}."
    if not request.business.is_active:
        return "Not retried: the business is inactive."
    return ""


# However many attempts were made, the next waits at most a day: past ~31 doublings the retry
# time was past the year 9999 and the callback that computed it crashed.
RETRY_DELAY_MAX_SECONDS = 86_400


def retry_delay(business: Business, attempts: int) -> timedelta:
    """The business's delay doubled per attempt made, at most a day, with ±20 % jitter so
    retries spread out."""
    base = business.retry_delay_seconds * 2 ** min(max(attempts - 1, 0), 32)
    return timedelta(seconds=min(base, RETRY_DELAY_MAX_SECONDS) * random.uniform(0.8, 1.2))


def call_sid_store(*, call: CallLog, sid: str) -> None:
    """Records the SID Twilio gave; never overwrites one, never moves the status back."""
    if call.request_id:
        # The lock order: the request before the call, as call_status_apply takes them.
        request_lock(request_id=call.request_id)
    try:
        with transaction.atomic():
            CallLog.objects.filter(pk=call.pk, call_sid__isnull=True).update(
                call_sid=sid, updated_at=timezone.now()
            )
    except IntegrityError:
        # Another call already holds this SID: keep both rows as they are, for an operator.
        logger.error("SID %s reported for call %s belongs to another call", sid, call.pk)
        call.refresh_from_db()
        return
    CallLog.objects.filter(pk=call.pk, status=Status.PENDING).update(
        status=Status.QUEUED, updated_at=timezone.now()
    )
    call.refresh_from_db()
    if call.hang_up_requested_at and call.call_sid == sid and not call.is_terminal:
        # Asked to hang up while its create was in flight: now there is a SID to hang up.
        task_queue_after_commit(hang_up_call, call.pk)


def call_fail(
    *,
    call: CallLog,
    code: str,
    message: str,
    ended_by: str,
    retry=Retry.BACKOFF,
    delay: timedelta | None = None,
    where: Q | None = None,
) -> bool:
    """Fails a call for a reason the service decided; the report never fills facts late."""
    report = StatusReport(status=Status.FAILED, error_code=code, error_message=message)
    return call_status_apply(
        call=call,
        report=report,
        ended_by=ended_by,
        retry=retry,
        delay=delay,
        where=where,
        from_twilio=False,
    )


# Until Twilio confirms a hang-up, the cleanup asks again this long after the last try.
HANG_UP_RETRY_SECONDS = 60


def calls_hang_up_request(*, call_ids, actor=None) -> None:
    """Records that these calls must be hung up (and by whom, for an operator) and queues a
    hang-up for each. The record stays: the cleanup asks again while the call is live until
    Twilio confirms it ended, and a call whose create is in flight is hung up once its SID is
    stored (call_sid_store)."""
    call_ids = list(call_ids)
    now = timezone.now()
    with transaction.atomic():
        CallLog.objects.filter(pk__in=call_ids, hang_up_requested_at__isnull=True).update(
            hang_up_requested_at=now
        )
        if actor is not None:
            # Conditional on still live: a call that ended meanwhile keeps who ended it.
            CallLog.objects.filter(pk__in=call_ids, status__in=CallLog.LIVE_STATUSES).update(
                hang_up_requested_by=actor
            )
        CallLog.objects.filter(pk__in=call_ids).update(
            nudge_due_at=now + timedelta(seconds=HANG_UP_RETRY_SECONDS)
        )
        for call_id in call_ids:
            task_queue_after_commit(hang_up_call, call_id)


def call_cancel_unsent(*, call: CallLog, message: str = "Canceled by request.") -> bool:
    """Ends a call whose create was never sent, by an operator's hand (a hang-up, a cancel, a
    campaign canceled). The dial stamp and the SID are repeated in the UPDATE: a create sent since
    the read may have placed the call, and then only Twilio can end it. Must run in a
    transaction; True when it ended the call."""
    report = StatusReport(status=Status.CANCELED, error_code="canceled", error_message=message)
    return call_status_apply(
        call=call,
        report=report,
        ended_by=EndedBy.OPERATOR,
        where=Q(dial_started_at__isnull=True, call_sid__isnull=True),
        from_twilio=False,
    )

"""The call status machine: applying a report about a call, and settling the request of a call
that ended. Whatever ends a call (callback, create error, cleanup, reconcile, operator) comes
through `call_status_apply`, and so through `call_attempt_ended`."""

import enum
import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from calls.models import Business, CallLog, CallRequest, Campaign
from calls.services.task_queue import task_queue_after_commit
from calls.tasks import create_lead_from_call, dispatch

logger = logging.getLogger(__name__)

Status = CallLog.Status
EndedBy = CallLog.EndedBy


class Retry(enum.Enum):
    BACKOFF = "backoff"  # the attempt counts; retry after the business's backoff
    UNCOUNTED = "uncounted"  # nothing was placed: retry after backoff, attempt not counted
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


def call_status_apply(
    *, call: CallLog, report: StatusReport, ended_by: str = EndedBy.TWILIO, retry=Retry.BACKOFF
) -> bool:
    """Moves a call forward to `report.status`; True when it did.

    One conditional UPDATE: only a status of higher rank, and a higher sequence number when both
    carry one, applies, so duplicates, stale and reordered reports are no-ops, and two callbacks
    racing on two web workers cannot both win. Must run inside a transaction.
    """
    terminal = report.status in CallLog.TERMINAL_STATUSES
    if terminal and call.request_id:
        request_lock(request_id=call.request_id)
    now = timezone.now()
    changes = {"status": report.status, "updated_at": now}
    if report.sequence_number is not None:
        changes["last_sequence_number"] = report.sequence_number
    if report.duration_seconds is not None:
        changes["duration_seconds"] = report.duration_seconds
    if report.answered_by:
        changes["answered_by"] = report.answered_by
    if report.status == Status.IN_PROGRESS:
        changes["answered_at"] = now
    if terminal:
        # A call an operator asked to hang up ends by their hand, whoever reports the end.
        ended_by = Case(
            When(hang_up_requested_by__isnull=False, then=Value(EndedBy.OPERATOR)),
            default=Value(ended_by),
        )
        changes.update(ended_at=now, ended_by=ended_by)
    if report.error_code or report.error_message:
        # Otherwise what the create request said (e.g. a 500 for a call that was placed) stays.
        changes.update(error_code=report.error_code, error_message=report.error_message)
    rows = CallLog.objects.filter(pk=call.pk, status__in=CallLog.statuses_before(report.status))
    if report.sequence_number is not None:
        rows = rows.filter(
            Q(last_sequence_number__isnull=True)
            | Q(last_sequence_number__lt=report.sequence_number)
        )
    if not rows.update(**changes):
        return False
    if terminal:
        call.refresh_from_db()
        call_attempt_ended(call=call, retry=retry)
    return True


def request_lock(*, request_id: int) -> None:
    """Locks a request, and its campaign first (the lock order), so a campaign being canceled
    cannot miss a request that a call settles back to queued."""
    campaign_id = (
        CallRequest.objects.filter(pk=request_id).values_list("campaign_id", flat=True).first()
    )
    if campaign_id:
        list(Campaign.objects.select_for_update().filter(pk=campaign_id).values_list("pk"))
    list(CallRequest.objects.select_for_update().filter(pk=request_id).values_list("pk"))


def call_attempt_ended(*, call: CallLog, retry: Retry = Retry.BACKOFF) -> None:
    """Settles the request of a call that just reached a terminal status (same transaction)."""
    if call.direction == CallLog.Direction.OUTBOUND:
        # Before the lead task: refilling the freed slot is what a paid-for line waits on.
        task_queue_after_commit(dispatch, call.business_id)
    if call.call_sid:
        task_queue_after_commit(create_lead_from_call, call.call_sid)
    if call.direction != CallLog.Direction.OUTBOUND or not call.request_id:
        return
    request = CallRequest.objects.select_related("business", "campaign").get(pk=call.request_id)
    active = CallRequest.objects.filter(pk=request.pk, status=CallRequest.Status.ACTIVE)
    reason = call.error_message or f"The last attempt ended {call.get_status_display().lower()}."
    if call.status == Status.COMPLETED:
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
        delay = timedelta(0) if retry is Retry.RELEASE else retry_delay(request.business, attempts)
        active.status_move(
            CallRequest.Status.QUEUED,
            attempts=attempts,
            next_attempt_at=timezone.now() + delay,
            last_error=reason,
        )


def _why_no_retry(request: CallRequest, attempts: int) -> str:
    if attempts >= request.max_attempts:
        return f"Gave up after {attempts} attempt{'s' if attempts != 1 else ''}."
    if request.campaign and not request.campaign.allows_retries:
        return f"Not retried: the campaign is {request.campaign.status}."
    if not request.business.is_active:
        return "Not retried: the business is inactive."
    return ""


def retry_delay(business: Business, attempts: int) -> timedelta:
    """The business's delay doubled per attempt made, with ±20 % jitter so retries spread out."""
    base = business.retry_delay_seconds * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


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


def call_fail(
    *, call: CallLog, code: str, message: str, ended_by: str, retry=Retry.BACKOFF
) -> bool:
    report = StatusReport(status=Status.FAILED, error_code=code, error_message=message)
    return call_status_apply(call=call, report=report, ended_by=ended_by, retry=retry)

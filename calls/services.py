"""Transactions, locking and orchestration for the call queue.

Lock order, everywhere: Business → DialingControl → Campaign → CallRequest → CallLog.
"""

import enum
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Now
from django.utils import timezone
from django_q.tasks import async_task

from calls import twilio_client
from calls.models import (
    Business,
    CallEvent,
    CallLog,
    CallRequest,
    Campaign,
    DialingControl,
    DialToken,
    Lease,
)
from calls.phone import to_e164
from calls.twilio_client import ErrorKind, TwilioError

logger = logging.getLogger(__name__)

Status = CallLog.Status
EndedBy = CallLog.EndedBy


# Several per call: a success row for each would make django-q2's monitor the bottleneck (it
# prunes to save_limit under a lock for every row saved). Their failures are still saved.
UNSAVED_TASKS = {"dispatch", "create_lead_from_call"}


def task_queue_after_commit(task: str, key) -> None:
    """Queues `calls.tasks.<task>(key)` once the transaction commits.

    A broker that is down must not turn a committed webhook into a 500: the cleanup re-queues
    whatever a lost nudge should have done, so the failure is only logged (robust=True).
    """
    transaction.on_commit(
        lambda: async_task(
            f"calls.tasks.{task}", key, task_name=f"{task}:{key}", save=task not in UNSAVED_TASKS
        ),
        robust=True,
    )


# --- the status machine -------------------------------------------------------------------------


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
        _lock_request(call.request_id)
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


def _lock_request(request_id: int) -> None:
    # Campaign before request (the lock order), so a campaign being canceled cannot miss a
    # request this call settles back to queued.
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
        task_queue_after_commit("dispatch", call.business_id)
    if call.call_sid:
        task_queue_after_commit("create_lead_from_call", call.call_sid)
    if call.direction != CallLog.Direction.OUTBOUND:
        return
    if not call.request_id:
        return
    request = CallRequest.objects.select_related("business", "campaign").get(pk=call.request_id)
    if request.status != CallRequest.Status.ACTIVE:
        return
    reason = call.error_message or f"The last attempt ended {call.get_status_display().lower()}."
    if call.status == Status.COMPLETED:
        _request_close(request, CallRequest.Status.DONE, "")
    elif call.status == Status.CANCELED:
        _request_close(request, CallRequest.Status.CANCELED, reason)
    elif retry is Retry.NEVER:
        _request_close(request, CallRequest.Status.FAILED, reason)
    else:
        attempts = request.attempts - (0 if retry is Retry.BACKOFF else 1)
        why_not = _why_no_retry(request, attempts)
        if why_not:
            _request_close(request, CallRequest.Status.FAILED, f"{reason} {why_not}")
        else:
            delay = (
                timedelta(0) if retry is Retry.RELEASE else retry_delay(request.business, attempts)
            )
            CallRequest.objects.filter(pk=request.pk, status=CallRequest.Status.ACTIVE).update(
                status=CallRequest.Status.QUEUED,
                attempts=attempts,
                next_attempt_at=timezone.now() + delay,
                last_error=reason,
                updated_at=timezone.now(),
            )


def _why_no_retry(request: CallRequest, attempts: int) -> str:
    if attempts >= request.max_attempts:
        return f"Gave up after {attempts} attempt{'s' if attempts != 1 else ''}."
    if request.campaign and not request.campaign.allows_retries:
        return f"Not retried: the campaign is {request.campaign.status}."
    if not request.business.is_active:
        return "Not retried: the business is inactive."
    return ""


def _request_close(request: CallRequest, status: str, reason: str) -> None:
    CallRequest.objects.filter(pk=request.pk, status=CallRequest.Status.ACTIVE).update(
        status=status, last_error=reason, updated_at=timezone.now()
    )


def retry_delay(business: Business, attempts: int) -> timedelta:
    """The business's delay doubled per attempt made, with ±20 % jitter so retries spread out."""
    base = business.retry_delay_seconds * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


def call_sid_store(*, call: CallLog, sid: str) -> None:
    """Records the SID Twilio gave; never overwrites one, never moves the status back."""
    if call.request_id:
        # The lock order: the request before the call, as call_status_apply takes them.
        _lock_request(call.request_id)
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


# --- webhooks -----------------------------------------------------------------------------------


def call_callback_record(
    *, call: CallLog, sid: str, report: StatusReport, sip_response_code: int | None, params: dict
) -> bool:
    """Applies one status callback about `call` and keeps it as a CallEvent."""
    with transaction.atomic():
        if not call.call_sid:
            call_sid_store(call=call, sid=sid)
        applied = call.call_sid == sid and call_status_apply(call=call, report=report)
        if not applied and call.call_sid != sid:
            logger.warning("Callback for %s carries SID %s, not %s", call.pk, sid, call.call_sid)
        elif not applied and _is_reaped_but_live(call, report.status):
            # The service gave up on this call, yet Twilio says it is live: hang it up so the
            # cap holds in reality, not just in the database.
            logger.warning("Call %s was settled as %s but is %s", sid, call.status, report.status)
            task_queue_after_commit("hang_up_call", call.pk)
        CallEvent.objects.create(
            call=call,
            status=report.status,
            sequence_number=report.sequence_number,
            sip_response_code=sip_response_code,
            applied=applied,
            params=params,
        )
    return applied


def _is_reaped_but_live(call: CallLog, reported: str) -> bool:
    return (
        call.status == Status.FAILED
        and call.ended_by in (EndedBy.CLEANUP, EndedBy.RECONCILE, EndedBy.DISPATCH)
        and reported in CallLog.LIVE_STATUSES
    )


def inbound_call_receive(*, call_sid: str, from_number: str, to_number: str, status: str):
    """Records an inbound call once, however often Twilio retries; None for an unknown number."""
    try:
        business = Business.objects.get(phone_number=to_e164(to_number))
    except (Business.DoesNotExist, ValidationError):
        return None
    with transaction.atomic():
        call, created = CallLog.objects.get_or_create(
            call_sid=call_sid,
            defaults={
                "business": business,
                "direction": CallLog.Direction.INBOUND,
                "from_number": from_number,
                "to_number": to_number,
                "status": status if status in CallLog.LIVE_STATUSES else Status.RINGING,
            },
        )
        if created:
            task_queue_after_commit("create_lead_from_call", call_sid)
    return call


# --- enqueue and dispatch -----------------------------------------------------------------------


class EnqueueRefused(Exception):
    pass


def enqueue_outbound_call(
    *, business: Business, to_number: str, lead=None, campaign: Campaign | None = None
) -> CallRequest:
    """Queues a call to `to_number`; raises EnqueueRefused (with the reason) or ValidationError."""
    request = _request_create(business=business, to_number=to_number, lead=lead, campaign=campaign)
    task_queue_after_commit("dispatch", business.pk)
    return request


def _request_create(*, business, to_number, lead, campaign) -> CallRequest:
    number = to_e164(to_number)
    with transaction.atomic():
        business = Business.objects.select_for_update().get(pk=business.pk)
        if not business.is_active:
            raise EnqueueRefused(f"{business.name} is inactive.")
        if business.paused_reason:
            raise EnqueueRefused(f"{business.name} is paused: {business.paused_reason}")
        if campaign and campaign.status in (Campaign.Status.DONE, Campaign.Status.CANCELED):
            raise EnqueueRefused(f"Campaign {campaign.name!r} is {campaign.status}.")
        open_requests = CallRequest.objects.filter(
            business=business,
            campaign=campaign,
            to_number=number,
            status__in=CallRequest.OPEN_STATUSES,
        )
        if open_requests.exists():
            where = f"in campaign {campaign.name!r}" if campaign else "for this business"
            raise EnqueueRefused(f"{number} is already queued or live {where}.")
        request = CallRequest.objects.create(
            business=business,
            campaign=campaign,
            lead=lead,
            to_number=number,
            max_attempts=business.max_attempts,
            next_attempt_at=timezone.now(),
        )
    return request


@dataclass
class EnqueueResult:
    number: str
    request: CallRequest | None = None
    refused: str = ""


def enqueue_outbound_call_try(
    *,
    business: Business,
    to_number: str,
    lead=None,
    campaign: Campaign | None = None,
    dispatch: bool = True,
) -> EnqueueResult:
    """Like enqueue_outbound_call, but a refusal is returned with its reason, not raised."""
    try:
        request = _request_create(
            business=business, to_number=to_number, lead=lead, campaign=campaign
        )
    except ValidationError as error:
        return EnqueueResult(to_number, refused=" ".join(error.messages))
    except EnqueueRefused as error:
        return EnqueueResult(to_number, refused=str(error))
    if dispatch:
        task_queue_after_commit("dispatch", business.pk)
    return EnqueueResult(to_number, request=request)


def enqueue_outbound_calls(
    *, business: Business, numbers: list[str], campaign: Campaign | None = None
) -> list[EnqueueResult]:
    """The bulk form: each number queued or refused with its reason; one bad row stops nothing.
    One dispatch is queued for the lot, not one per number."""
    results = [
        enqueue_outbound_call_try(
            business=business, to_number=number, campaign=campaign, dispatch=False
        )
        for number in numbers
    ]
    if any(result.request for result in results):
        task_queue_after_commit("dispatch", business.pk)
    return results


def dispatch_claim_limit() -> int:
    # A dispatch waits for a calls-per-second token per call; claiming at most ~30 s worth keeps
    # it far inside the task timeout, and the next dispatch takes the rest.
    return max(1, settings.TWILIO_CALLS_PER_SECOND * 30)


def business_dispatch(*, business_id: int) -> list[int]:
    """Claims what the business may dial now and places those calls; returns their CallLog ids."""
    call_ids = business_claim(business_id=business_id)
    for call_id in call_ids:
        call_place(call_id=call_id)
    if len(call_ids) >= dispatch_claim_limit():
        task_queue_after_commit("dispatch", business_id)
    return call_ids


def business_claim(*, business_id: int) -> list[int]:
    """Under the business row lock: marks due requests active and creates a pending CallLog each.

    The lock makes the count of live calls and the claims one step, so racing dispatchers for
    one business cannot exceed its cap; the partial unique constraints back it up.
    """
    with transaction.atomic():
        business = Business.objects.select_for_update().filter(pk=business_id).first()
        if business is None or not business.can_dial:
            return []
        control = DialingControl.get()
        if control.paused:
            return []
        live = CallLog.objects.filter(
            business=business,
            direction=CallLog.Direction.OUTBOUND,
            status__in=CallLog.LIVE_STATUSES,
        )
        free = business.max_concurrent_calls - live.count()
        if settings.TWILIO_MAX_CONCURRENT_CALLS is not None and free > 0:
            # The account-wide cap spans businesses: its lock is the control row.
            DialingControl.objects.select_for_update().get(pk=control.pk)
            account_live = CallLog.objects.filter(
                direction=CallLog.Direction.OUTBOUND, status__in=CallLog.LIVE_STATUSES
            ).count()
            free = min(free, settings.TWILIO_MAX_CONCURRENT_CALLS - account_live)
        free = min(free, dispatch_claim_limit())
        call_ids = _claim(business, live, free) if free > 0 else []
        _campaigns_finish(business)
    return call_ids


def _claim(business: Business, live, free: int) -> list[int]:
    live_numbers = set(live.values_list("to_number", flat=True))
    # Counted from the few active requests (a partial index), never from a campaign's whole list.
    active = dict(
        CallRequest.objects.filter(
            business=business, status=CallRequest.Status.ACTIVE, campaign__isnull=False
        )
        .values_list("campaign_id")
        .annotate(n=Count("id"))
    )
    campaign_room = {
        pk: (concurrency if concurrency is not None else business.max_concurrent_calls)
        - active.get(pk, 0)
        for pk, concurrency in Campaign.objects.filter(
            business=business, status=Campaign.Status.RUNNING
        ).values_list("pk", "concurrency")
    }
    full = [pk for pk, room in campaign_room.items() if room <= 0]
    due = (
        CallRequest.objects.filter(
            business=business, status=CallRequest.Status.QUEUED, next_attempt_at__lte=Now()
        )
        .filter(Q(campaign__isnull=True) | Q(campaign__status=Campaign.Status.RUNNING))
        .exclude(campaign_id__in=full)
        .exclude(to_number__in=live_numbers)
        .order_by("next_attempt_at", "id")
    )
    call_ids = []
    for request in due[: free * 4 + 10]:
        if len(call_ids) >= free:
            break
        if request.to_number in live_numbers:
            continue
        if request.campaign_id and campaign_room[request.campaign_id] <= 0:
            continue
        claimed = CallRequest.objects.filter(
            pk=request.pk, status=CallRequest.Status.QUEUED
        ).update(
            status=CallRequest.Status.ACTIVE, attempts=F("attempts") + 1, updated_at=timezone.now()
        )
        if not claimed:
            continue
        call = CallLog.objects.create(
            business=business,
            request=request,
            lead_id=request.lead_id,
            direction=CallLog.Direction.OUTBOUND,
            from_number=business.phone_number,
            to_number=request.to_number,
        )
        live_numbers.add(request.to_number)
        if request.campaign_id:
            campaign_room[request.campaign_id] -= 1
        call_ids.append(call.pk)
    return call_ids


def _campaigns_finish(business: Business) -> None:
    """Ends the business's running and stopping campaigns that have nothing left to do."""
    now = timezone.now()
    stopping = Campaign.objects.filter(business=business, status=Campaign.Status.STOPPING).exclude(
        requests__status=CallRequest.Status.ACTIVE
    )
    for campaign in stopping:
        campaign.requests.filter(status=CallRequest.Status.QUEUED).update(
            status=CallRequest.Status.CANCELED,
            last_error="The campaign was stopped.",
            updated_at=now,
        )
    stopping.update(status=Campaign.Status.DONE, ended_at=now)
    Campaign.objects.filter(business=business, status=Campaign.Status.RUNNING).exclude(
        requests__status__in=CallRequest.OPEN_STATUSES
    ).filter(requests__isnull=False).update(status=Campaign.Status.DONE, ended_at=now)


def dial_token_take() -> int:
    """Blocks until this worker may send one create; returns the token to release after it.

    TWILIO_CALLS_PER_SECOND tokens live in the database. A token is held while its create is in
    flight and becomes free one second after the create returned, so creates on one token reach
    Twilio more than a second apart: at most that many in any one-second window, however many
    workers send and however slow the network. Times are the database's, one clock for all hosts.
    """
    rate = settings.TWILIO_CALLS_PER_SECOND
    if DialToken.objects.filter(pk__lte=rate).count() < rate:
        for pk in range(1, rate + 1):
            DialToken.objects.get_or_create(pk=pk, defaults={"free_at": timezone.now()})
    # Held past the HTTP timeout at most, so a worker that dies holding a token loses nothing.
    hold = timedelta(seconds=settings.TWILIO_HTTP_TIMEOUT_SECONDS + 1)
    while True:
        free = DialToken.objects.filter(pk__lte=rate, free_at__lte=Now())
        pk = free.order_by("free_at").values_list("pk", flat=True).first()
        # Compare-and-set: of two workers taking the same token, one wins and the other retries.
        if pk and DialToken.objects.filter(pk=pk, free_at__lte=Now()).update(free_at=Now() + hold):
            return pk
        if pk is None:
            next_free = DialToken.objects.filter(pk__lte=rate).order_by("free_at").first()
            wait = (next_free.free_at - timezone.now()).total_seconds()
            time.sleep(min(max(wait, 0.01), 0.25))


def dial_token_release(*, token: int, sent: bool) -> None:
    DialToken.objects.filter(pk=token).update(
        free_at=Now() + timedelta(seconds=1) if sent else Now()
    )


def call_place(*, call_id: int) -> None:
    """Sends the create request for one claimed call and settles what its outcome proves."""
    call = CallLog.objects.select_related("business").get(pk=call_id)
    if not call.business.can_dial or DialingControl.get().paused:
        # Paused since the claim (e.g. Twilio refused the business's previous call).
        with transaction.atomic():
            if CallLog.objects.filter(pk=call_id, dial_started_at__isnull=True).exists():
                call_fail(
                    call=call,
                    code="not-sent",
                    message="Not sent: dialing was paused before the call was placed.",
                    ended_by=EndedBy.DISPATCH,
                    retry=Retry.RELEASE,
                )
        return
    token = dial_token_take()
    # Stamped only if still pending and unstamped: a call the cleanup settled is never sent.
    if not CallLog.objects.filter(
        pk=call_id, status=Status.PENDING, dial_started_at__isnull=True
    ).update(dial_started_at=timezone.now(), updated_at=timezone.now()):
        dial_token_release(token=token, sent=False)
        return
    base = settings.PUBLIC_BASE_URL
    try:
        sid = twilio_client.call_create(
            to=call.to_number,
            from_=call.from_number,
            url=f"{base}/twilio/calls/{call.public_id}/answer",
            status_callback=f"{base}/twilio/calls/{call.public_id}/status",
            timeout=settings.CALL_RING_TIMEOUT_SECONDS,
            time_limit=settings.CALL_TIME_LIMIT_SECONDS,
        )
    except TwilioError as error:
        dial_token_release(token=token, sent=True)
        call_create_failed(call=call, error=error)
        return
    dial_token_release(token=token, sent=True)
    with transaction.atomic():
        call_sid_store(call=call, sid=sid)


def call_create_failed(*, call: CallLog, error: TwilioError) -> None:
    message = f"Twilio refused the call ({error.kind.value}): {error.message}"
    with transaction.atomic():
        if error.kind is ErrorKind.UNKNOWN:
            # The call may exist: keep its slot; its callback or the cleanup will settle it.
            CallLog.objects.filter(pk=call.pk, status=Status.PENDING).update(
                error_code=error.code, error_message=message, updated_at=timezone.now()
            )
            logger.warning("Create for call %s has an unknown outcome: %s", call.pk, error)
            return
        if error.kind is ErrorKind.REFUSED_BUSINESS:
            business_pause(business_id=call.business_id, reason=message)
        retry = {
            ErrorKind.REFUSED_NUMBER: Retry.NEVER,
            ErrorKind.REFUSED_BUSINESS: Retry.RELEASE,
            ErrorKind.NOT_PLACED: Retry.UNCOUNTED,
        }[error.kind]
        call_fail(
            call=call, code=error.code, message=message, ended_by=EndedBy.DISPATCH, retry=retry
        )


def business_pause(*, business_id: int, reason: str) -> None:
    logger.error("Pausing business %s: %s", business_id, reason)
    Business.objects.filter(pk=business_id).update(paused_reason=reason, updated_at=timezone.now())


def business_resume(*, business: Business) -> None:
    Business.objects.filter(pk=business.pk).update(paused_reason="", updated_at=timezone.now())
    task_queue_after_commit("dispatch", business.pk)


# --- campaigns and operator actions --------------------------------------------------------------


def campaign_set_status(*, campaign: Campaign, status: str, hang_up: bool = False) -> None:
    """Pause, resume, stop or cancel a campaign; cancel can also hang up its live calls."""
    with transaction.atomic():
        Business.objects.select_for_update().get(pk=campaign.business_id)
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status in (Campaign.Status.DONE, Campaign.Status.CANCELED):
            return
        now = timezone.now()
        campaign.status = status
        if status == Campaign.Status.CANCELED:
            campaign.ended_at = now
            campaign.requests.filter(status=CallRequest.Status.QUEUED).update(
                status=CallRequest.Status.CANCELED,
                last_error="The campaign was canceled.",
                updated_at=now,
            )
            if hang_up:
                live = CallLog.objects.filter(
                    request__campaign=campaign, status__in=CallLog.LIVE_STATUSES
                )
                for call_id in live.values_list("pk", flat=True):
                    task_queue_after_commit("hang_up_call", call_id)
        campaign.save(update_fields=["status", "ended_at", "updated_at"])
        task_queue_after_commit("dispatch", campaign.business_id)


def call_hang_up(*, call_id: int) -> None:
    """Ends a live call: asks Twilio to hang up, or cancels one that was never sent."""
    call = CallLog.objects.get(pk=call_id)
    if call.call_sid:
        try:
            twilio_client.call_hang_up(sid=call.call_sid)
        except TwilioError as error:
            logger.warning("Hang-up of %s failed: %s", call.call_sid, error)
        return
    with transaction.atomic():
        # Only a call whose create was never sent can be canceled here; a sent one may exist.
        if CallLog.objects.filter(pk=call.pk, dial_started_at__isnull=True).exists():
            report = StatusReport(
                status=Status.CANCELED,
                error_code="canceled",
                error_message="Canceled by an operator.",
            )
            call_status_apply(call=call, report=report, ended_by=EndedBy.OPERATOR)


def request_retry_now(*, request: CallRequest) -> bool:
    """Queues a finished or waiting request to dial at once, with one more attempt if needed."""
    with transaction.atomic():
        _lock_request(request.pk)
        request = CallRequest.objects.select_related("campaign").get(pk=request.pk)
        if request.status == CallRequest.Status.ACTIVE:
            return False
        campaign = request.campaign
        if campaign and campaign.status == Campaign.Status.CANCELED:
            return False
        if campaign and campaign.status == Campaign.Status.DONE:
            # Dispatch dials only running campaigns: a finished one runs again for this retry.
            Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.DONE).update(
                status=Campaign.Status.RUNNING, ended_at=None, updated_at=timezone.now()
            )
        request.status = CallRequest.Status.QUEUED
        request.next_attempt_at = timezone.now()
        request.max_attempts = max(request.max_attempts, request.attempts + 1)
        try:
            with transaction.atomic():
                request.save()
        except IntegrityError:
            return False
        task_queue_after_commit("dispatch", request.business_id)
    return True


# --- the cleanup and reconcile ------------------------------------------------------------------


def lease_take(*, name: str, seconds: int) -> str | None:
    """Takes the named lease if it is free; returns the holder token, or None."""
    now = timezone.now()
    Lease.objects.get_or_create(name=name, defaults={"held_until": now - timedelta(seconds=1)})
    holder = uuid.uuid4().hex
    taken = Lease.objects.filter(name=name, held_until__lt=now).update(
        held_until=now + timedelta(seconds=seconds), holder=holder
    )
    return holder if taken else None


def lease_release(*, name: str, holder: str, succeeded: bool) -> None:
    now = timezone.now()
    changes = {"held_until": now}
    if succeeded:
        changes["last_succeeded_at"] = now
    Lease.objects.filter(name=name, holder=holder).update(**changes)


CLEANUP_LEASE = "cleanup"


@dataclass
class CleanupResult:
    failed: int = 0
    reconciling: int = 0
    dispatched: int = 0
    leads: int = 0
    pruned: int = 0
    skipped: bool = False


def cleanup_run() -> CleanupResult:
    """The scheduled cleanup (database only): settles orphans, nudges what lost tasks missed."""
    holder = lease_take(name=CLEANUP_LEASE, seconds=300)
    if holder is None:
        logger.info("Cleanup skipped: another run holds the lease.")
        return CleanupResult(skipped=True)
    succeeded = False
    try:
        result = CleanupResult(
            failed=cleanup_orphaned_calls(),
            reconciling=cleanup_queue_reconciles(),
            dispatched=cleanup_nudge_dispatch(),
            leads=cleanup_nudge_leads(),
            pruned=cleanup_prune_task_results(),
        )
        succeeded = True
    finally:
        lease_release(name=CLEANUP_LEASE, holder=holder, succeeded=succeeded)
    return result


def _orphans(now: datetime):
    cutoff = now - timedelta(seconds=settings.ORPHAN_CALL_SECONDS)
    return CallLog.objects.filter(
        status=Status.PENDING, call_sid__isnull=True, direction=CallLog.Direction.OUTBOUND
    ).filter(
        Q(dial_started_at__isnull=True, created_at__lt=cutoff)
        | Q(dial_started_at__isnull=False, dial_started_at__lt=cutoff)
    )


def cleanup_orphaned_calls() -> int:
    """Fails pending calls whose create was never sent; returns how many it failed.

    Each UPDATE repeats the whole condition, so a callback that lands between the read and the
    write wins and the call is left alone.
    """
    now = timezone.now()
    never_sent = _orphans(now).filter(dial_started_at__isnull=True)
    failed = 0
    for call in never_sent.order_by("created_at")[:1000]:
        with transaction.atomic():
            if not _orphans(now).filter(pk=call.pk, dial_started_at__isnull=True).exists():
                continue
            failed += call_fail(
                call=call,
                code="never-sent",
                message=(
                    f"The call was never sent to Twilio within {settings.ORPHAN_CALL_SECONDS} s "
                    "(the worker placing it stopped); its slot was freed."
                ),
                ended_by=EndedBy.CLEANUP,
                retry=Retry.RELEASE,
            )
    return failed


def cleanup_queue_reconciles() -> int:
    """Asks reconcile_call to look up sent-but-unconfirmed calls and calls gone silent."""
    now = timezone.now()
    silent = CallLog.objects.filter(
        status__in=CallLog.LIVE_STATUSES,
        call_sid__isnull=False,
        updated_at__lt=now - timedelta(seconds=settings.RECONCILE_AFTER_SECONDS),
    )
    unconfirmed = _orphans(now).filter(dial_started_at__isnull=False)
    call_ids = list(unconfirmed.values_list("pk", flat=True)[:500])
    call_ids += list(silent.values_list("pk", flat=True)[:500])
    with transaction.atomic():
        for call_id in call_ids:
            task_queue_after_commit("reconcile_call", call_id)
    return len(call_ids)


def cleanup_nudge_dispatch() -> int:
    """Queues a dispatch for each business with a due request and a free slot.

    Both conditions are correlated subqueries on partial indexes (due requests, live calls), so
    the cost follows the number of businesses, not the size of either table.
    """
    due = CallRequest.objects.filter(
        business=OuterRef("pk"), status=CallRequest.Status.QUEUED, next_attempt_at__lte=Now()
    )
    live = (
        CallLog.objects.filter(
            business=OuterRef("pk"),
            direction=CallLog.Direction.OUTBOUND,
            status__in=CallLog.LIVE_STATUSES,
        )
        .order_by()
        .values("business")
        .annotate(n=Count("pk"))
        .values("n")
    )
    businesses = (
        Business.objects.filter(is_active=True, paused_reason="")
        .filter(Exists(due))
        .annotate(live=Coalesce(Subquery(live), 0))
        .filter(live__lt=F("max_concurrent_calls"))
    )
    business_ids = list(businesses.values_list("pk", flat=True))
    with transaction.atomic():
        for business_id in business_ids:
            task_queue_after_commit("dispatch", business_id)
    return len(business_ids)


def cleanup_nudge_leads() -> int:
    """Queues the lead task for calls that ended in the last day and still have no lead."""
    calls = CallLog.objects.filter(
        lead__isnull=True,
        call_sid__isnull=False,
        ended_at__gte=timezone.now() - timedelta(hours=24),
        status__in=CallLog.TERMINAL_STATUSES,
    )
    sids = list(calls.values_list("call_sid", flat=True)[:1000])
    with transaction.atomic():
        for sid in sids:
            task_queue_after_commit("create_lead_from_call", sid)
    return len(sids)


def cleanup_prune_task_results() -> int:
    from django_q.models import Task

    deleted, _ = Task.objects.filter(stopped__lt=timezone.now() - timedelta(days=7)).delete()
    return deleted


def call_reconcile(*, call_id: int) -> None:
    """Asks Twilio about a call it never confirmed or that went silent, and settles it."""
    call = CallLog.objects.filter(pk=call_id).first()
    if call is None or call.is_terminal:
        return
    age = timezone.now() - (call.dial_started_at or call.created_at)
    stuck = age > timedelta(seconds=settings.STUCK_CALL_SECONDS)
    try:
        found = _twilio_call_for(call)
    except TwilioError as error:
        if stuck:
            with transaction.atomic():
                call_fail(
                    call=call,
                    code="unreachable",
                    message=f"Twilio could not tell what became of this call: {error.message}",
                    ended_by=EndedBy.RECONCILE,
                )
        return
    if found is not None and found.status not in CallLog.RANK:
        logger.warning("Twilio reports status %r for call %s: left as is", found.status, call.pk)
        return
    with transaction.atomic():
        if found is None:
            call_fail(
                call=call,
                code="not-found",
                message="Twilio has no record of this call; it was never placed.",
                ended_by=EndedBy.RECONCILE,
                retry=Retry.UNCOUNTED,
            )
            return
        if not call.call_sid:
            call_sid_store(call=call, sid=found.sid)
        report = StatusReport(
            status=found.status, duration_seconds=found.duration, answered_by=found.answered_by
        )
        applied = call_status_apply(call=call, report=report, ended_by=EndedBy.RECONCILE)
        CallEvent.objects.create(
            call=call,
            source=CallEvent.Source.RECONCILE,
            status=found.status,
            applied=applied,
            params={"sid": found.sid, "status": found.status, "duration": found.duration},
        )
        if not applied:
            # Heard from Twilio: the silence clock starts again.
            CallLog.objects.filter(pk=call.pk).update(updated_at=timezone.now())


def _twilio_call_for(call: CallLog) -> twilio_client.TwilioCall | None:
    if call.call_sid:
        try:
            return twilio_client.call_fetch(sid=call.call_sid)
        except TwilioError as error:
            if error.code == "20404":
                return None
            raise
    since = call.dial_started_at - timedelta(seconds=5)
    known = set(
        CallLog.objects.filter(call_sid__isnull=False, to_number=call.to_number).values_list(
            "call_sid", flat=True
        )
    )
    candidates = [
        c
        for c in twilio_client.call_list(to=call.to_number, from_=call.from_number)
        if c.sid not in known and c.date_created and c.date_created >= since
    ]
    return min(candidates, key=lambda c: c.date_created) if candidates else None

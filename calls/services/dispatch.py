"""Dispatch: claim what a business may dial now, then send each create to Twilio at no more than
TWILIO_CALLS_PER_SECOND and settle what its outcome proves."""

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Now
from django.utils import timezone

from calls import twilio_client
from calls.faults import fault_point
from calls.models import Business, CallLog, CallRequest, Campaign, DialingControl
from calls.services.dial_tokens import dial_token_release, dial_token_take
from calls.services.pauses import business_pause
from calls.services.status import Retry, call_fail, call_sid_store
from calls.services.task_queue import task_queue_after_commit
from calls.tasks import dispatch
from calls.twilio_client import ErrorKind, TwilioError

logger = logging.getLogger(__name__)

Status = CallLog.Status
EndedBy = CallLog.EndedBy


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
        task_queue_after_commit(dispatch, business_id)
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
            business=business, status__in=Campaign.DIALING_STATUSES
        ).values_list("pk", "concurrency")
    }
    full = [pk for pk, room in campaign_room.items() if room <= 0]
    due = (
        CallRequest.objects.filter(
            business=business, status=CallRequest.Status.QUEUED, next_attempt_at__lte=Now()
        )
        .filter(Q(campaign__isnull=True) | Q(campaign__status__in=Campaign.DIALING_STATUSES))
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
        claimed = CallRequest.objects.filter(pk=request.pk).status_move(
            CallRequest.Status.ACTIVE, attempts=F("attempts") + 1
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
        fault_point("claim")
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
        campaign.requests.filter(status=CallRequest.Status.QUEUED).status_move(
            CallRequest.Status.CANCELED, last_error="The campaign was stopped."
        )
    stopping.status_move(Campaign.Status.DONE, ended_at=now)
    Campaign.objects.filter(business=business, status=Campaign.Status.RUNNING).exclude(
        requests__status__in=CallRequest.OPEN_STATUSES
    ).filter(requests__isnull=False).status_move(Campaign.Status.DONE, ended_at=now)


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
    fault_point("dial-token")
    # Stamped only if still pending and unstamped: a call the cleanup settled is never sent.
    if not CallLog.objects.filter(
        pk=call_id, status=Status.PENDING, dial_started_at__isnull=True
    ).update(dial_started_at=timezone.now(), updated_at=timezone.now()):
        dial_token_release(token=token, sent=False)
        return
    fault_point("dial-stamped")
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
    fault_point("create-returned")
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

"""Placing one claimed call: a calls-per-second token, the dial stamp, the create request, and
what its outcome proves (twilio_client.ErrorKind says whose fault a refusal is)."""

import enum
import logging
import random
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from calls import twilio_client
from calls.faults import fault_point
from calls.models import CallLog, CallRequest, Campaign, DialingControl
from calls.services.dial_tokens import dial_token_release, dial_token_take
from calls.services.machines import machine_detection_params
from calls.services.pauses import business_pause, dialing_set
from calls.services.status import Retry, call_fail, call_sid_store, request_lock
from calls.twilio_client import ErrorKind, TwilioError

logger = logging.getLogger(__name__)

Status = CallLog.Status
EndedBy = CallLog.EndedBy

# A throttled create waits 1 s, doubling with each throttle in a row up to this, with jitter.
THROTTLE_MAX_SECONDS = 60


class Placed(enum.Enum):
    SENT = "sent"  # Twilio took the create (or its outcome is unknown: the slot stays held)
    THROTTLED = "throttled"  # not placed: its request waits seconds, its slot is free again
    SETTLED = "settled"  # refused, or settled by someone else before it was sent
    RELEASED = "released"  # never sent: handed back to the queue as if never claimed


def call_place(*, call_id: int, deadline: float | None = None) -> Placed:
    """Sends the create request for one claimed call and settles what its outcome proves.

    `deadline` (time.monotonic()) bounds the wait for a calls-per-second token: a call that gets
    none by then is handed back unsent.
    """
    call = CallLog.objects.select_related("business", "request__campaign").get(pk=call_id)
    if not call.business.can_dial or DialingControl.get().paused:
        # Paused since the claim (e.g. Twilio refused the business's previous call).
        call_claim_release(
            call_id=call_id, reason="Not sent: dialing was paused before the call was placed."
        )
        return Placed.RELEASED
    token = dial_token_take(deadline=deadline)
    if token is None:
        call_claim_release(call_id=call_id)
        return Placed.RELEASED
    fault_point("dial-token")
    # Stamped only if still pending and unstamped: a call the cleanup settled is never sent.
    if not CallLog.objects.filter(
        pk=call_id, status=Status.PENDING, dial_started_at__isnull=True
    ).update(dial_started_at=timezone.now(), updated_at=timezone.now()):
        dial_token_release(token=token, sent=False)
        return Placed.SETTLED
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
            **machine_detection_params(call=call, base_url=base),
        )
    except TwilioError as error:
        dial_token_release(token=token, sent=True)
        call_create_failed(call=call, error=error)
        return Placed.THROTTLED if error.kind is ErrorKind.NOT_PLACED else Placed.SETTLED
    fault_point("create-returned")
    dial_token_release(token=token, sent=True)
    with transaction.atomic():
        call_sid_store(call=call, sid=sid)
        if call.request_id:
            CallRequest.objects.filter(pk=call.request_id, throttled_count__gt=0).update(
                throttled_count=0
            )
    return Placed.SENT


def call_create_failed(*, call: CallLog, error: TwilioError) -> None:
    """Settles a create Twilio refused, by whose fault it is: the number's fails its request; the
    business's pauses it; the account's pauses all dialing (both leave every request queued); a
    throttle retries in seconds; an unknown outcome keeps the slot for the callback or cleanup."""
    message = f"Twilio refused the call ({error.kind.value}, {error.code}): {error.message}"
    with transaction.atomic():
        if error.kind is ErrorKind.UNKNOWN:
            # The call may exist: keep its slot; its callback or the cleanup will settle it. Its
            # callbacks may have come first and moved it on: the create's error is kept for the
            # operator all the same, unless Twilio already gave the call an error of its own.
            CallLog.objects.filter(pk=call.pk, error_code="").update(
                error_code=error.code, error_message=message, updated_at=timezone.now()
            )
            logger.warning("Create for call %s has an unknown outcome: %s", call.pk, error)
            return
        delay = None
        if error.kind is ErrorKind.REFUSED_BUSINESS:
            business_pause(business_id=call.business_id, reason=message)
        elif error.kind is ErrorKind.REFUSED_ACCOUNT:
            logger.error("Pausing all dialing: %s", error)
            dialing_set(paused=True, reason=message)
        elif error.kind is ErrorKind.NOT_PLACED:
            throttled = (
                CallRequest.objects.filter(pk=call.request_id)
                .values_list("throttled_count", flat=True)
                .first()
            )
            delay = throttle_delay(throttled=throttled or 0, retry_after=error.retry_after)
            message = f"{message} Trying again in {delay.total_seconds():.0f} s."
        retry = {
            ErrorKind.REFUSED_NUMBER: Retry.NEVER,
            ErrorKind.REFUSED_BUSINESS: Retry.RELEASE,
            ErrorKind.REFUSED_ACCOUNT: Retry.RELEASE,
            ErrorKind.NOT_PLACED: Retry.THROTTLED,
        }[error.kind]
        call_fail(
            call=call,
            code=error.code,
            message=message,
            ended_by=EndedBy.DISPATCH,
            retry=retry,
            delay=delay,
        )


def throttle_delay(*, throttled: int, retry_after: float | None) -> timedelta:
    """1 s doubling per throttle in a row up to THROTTLE_MAX_SECONDS, ±20 % jitter so throttled
    requests spread out; never sooner than Twilio's Retry-After. Not the busy/no-answer backoff:
    a throttle proves nothing about the number, and Twilio asks for seconds, not minutes."""
    seconds = min(2 ** min(throttled, 16) * random.uniform(0.8, 1.2), THROTTLE_MAX_SECONDS)
    return timedelta(seconds=max(seconds, retry_after or 0))


def requests_throttled_due(*, business_id: int):
    """When the business's next throttled request is due, or None (a dispatch may wait for it)."""
    return (
        CallRequest.objects.filter(
            business_id=business_id, status=CallRequest.Status.QUEUED, throttled_count__gt=0
        )
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )


def call_claim_release(*, call_id: int, reason: str = "") -> bool:
    """Hands back a claim that was never sent, as if it had never been made: its pending CallLog
    is deleted and its request goes back to the queue with the attempt uncounted. False when the
    call was sent or settled meanwhile (then it is left as it is).

    Deleted rather than failed: no call existed, and a failed attempt in the admin would read as
    one that Twilio refused or the callee missed.
    """
    with transaction.atomic():
        request_id = CallLog.objects.filter(pk=call_id).values_list("request_id", flat=True).first()
        if request_id:
            request_lock(request_id=request_id)  # the lock order: the request before the call
        call = (
            CallLog.objects.select_for_update()
            .filter(pk=call_id, status=Status.PENDING, dial_started_at__isnull=True)
            .filter(call_sid__isnull=True)
            .first()
        )
        if call is None:
            return False
        call.delete()
        if request_id:
            request = CallRequest.objects.select_related("campaign").get(pk=request_id)
            active = CallRequest.objects.filter(pk=request_id, status=CallRequest.Status.ACTIVE)
            changes = {"attempts": F("attempts") - 1}
            if reason:
                changes["last_error"] = reason
            if request.campaign and request.campaign.status == Campaign.Status.CANCELED:
                active.status_move(
                    CallRequest.Status.CANCELED,
                    **{**changes, "last_error": "The campaign was canceled."},
                )
            else:
                active.status_move(
                    CallRequest.Status.QUEUED, next_attempt_at=timezone.now(), **changes
                )
    return True

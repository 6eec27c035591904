"""Placing one claimed call: a calls-per-second token, the dial stamp, the create request, and
what its outcome proves (twilio_client.ErrorKind says whose fault a refusal is)."""

import enum
import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from calls import twilio_client
from calls.faults import fault_point
from calls.models import CallLog, CallRequest, Campaign, DialingControl
from calls.services.caller_numbers import PoolHold, caller_number_take, caller_number_uncount
from calls.services.calling_rules import hold_fields, request_decision
from calls.services.dial_tokens import dial_token_release, dial_token_take
from calls.services.do_not_call import do_not_call_listed, do_not_call_reason
from calls.services.locks import request_lock
from calls.services.machines import machine_detection_params
from calls.services.pauses import business_pause, dialing_set, twilio_account_pause
from calls.services.status import Retry, call_fail, call_sid_store
from calls.twilio_client import ErrorKind, TwilioError
from compliance.consent import consent_refusal
from compliance.models import DoNotCall
from compliance.rules import Decision
from twilio_accounts.credentials import call_credentials

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


def call_place(*, call_id: int, deadline: float | None = None, give_way: bool = False) -> Placed:
    """Sends the create request for one claimed call and settles what its outcome proves.

    `deadline` (time.monotonic()) bounds the wait for a calls-per-second token: a call that gets
    none by then is handed back unsent. With `give_way`, DialTurnParked is raised instead of
    waiting behind another business's dispatch, the claim left to the caller to hand back.
    Whether the call may still be placed is judged again right before the create
    (call_send_refusal): a claim may wait for its token, and a pause, a cancel, a closing window
    or a do-not-call listing meanwhile must keep it from being dialed.
    """
    call = CallLog.objects.select_related("business", "request__campaign").get(pk=call_id)
    if not call.business.can_dial or DialingControl.get().paused:
        # Paused since the claim (e.g. Twilio refused the business's previous call): no token.
        return _refused(call, SendRefusal(PAUSED))
    token = dial_token_take(
        account_id=call.twilio_account_id,
        business_id=call.business_id,
        deadline=deadline,
        give_way=give_way,
    )
    if token is None:
        call_claim_release(call_id=call_id)
        return Placed.RELEASED
    fault_point("dial-token")
    refusal = call_send_refusal(call)
    if refusal is not None:
        dial_token_release(token=token, sent=False)
        return _refused(call, refusal)
    # Stamped only if still pending, unstamped, not being hung up and not listed: a call the
    # cleanup settled, an operator canceled or a callee opted out of since the check above is
    # never sent (the conditions are repeated in the UPDATE, as of the moment it runs).
    # The caller number is taken (counted against its daily cap) in the stamp's transaction: a
    # call that is not stamped gives its count back with the rollback.
    now = timezone.now()
    with transaction.atomic():
        from_number = caller_number_take(business=call.business, to_number=call.to_number, now=now)
        stamped = isinstance(from_number, str) and _sendable(call).update(
            dial_started_at=now, updated_at=now, from_number=from_number
        )
        if not stamped:
            transaction.set_rollback(True)
    if isinstance(from_number, PoolHold):
        dial_token_release(token=token, sent=False)
        hold = from_number if from_number.opening else None
        return _refused(call, SendRefusal(from_number.reason, hold=hold, cancel=hold is None))
    if not stamped:
        dial_token_release(token=token, sent=False)
        refusal = call_send_refusal(call)
        return _refused(call, refusal) if refusal is not None else Placed.SETTLED
    call.from_number = from_number
    fault_point("dial-stamped")
    base = settings.PUBLIC_BASE_URL
    try:
        sid = twilio_client.call_create(
            account=call_credentials(call),
            to=call.to_number,
            from_=from_number,
            url=f"{base}/twilio/calls/{call.public_id}/answer",
            status_callback=f"{base}/twilio/calls/{call.public_id}/status",
            timeout=settings.CALL_RING_TIMEOUT_SECONDS,
            time_limit=settings.CALL_TIME_LIMIT_SECONDS,
            **machine_detection_params(call=call, base_url=base),
        )
    except TwilioError as error:
        dial_token_release(token=token, sent=True)
        if error.kind is not ErrorKind.UNKNOWN:
            caller_number_uncount(business=call.business, number=from_number, at=now)
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


PAUSED = "Not sent: dialing was paused before the call was placed."


@dataclass(frozen=True)
class SendRefusal:
    """Why a claimed call may not be sent now, and what becomes of it: handed back to the queue
    (at once, or held for the calling rules' opening), canceled, failed (no opening at all), or
    left to whoever settled it."""

    reason: str
    hold: Decision | PoolHold | None = None
    cancel: bool = False
    fail: bool = False


def _sendable(call: CallLog):
    listed = DoNotCall.objects.filter(phone_number=OuterRef("to_number")).filter(
        Q(business_id=OuterRef("business_id")) | Q(business__isnull=True)
    )
    return CallLog.objects.filter(
        ~Exists(listed),
        pk=call.pk,
        status=Status.PENDING,
        dial_started_at__isnull=True,
        hang_up_requested_at__isnull=True,
    )


def call_send_refusal(call: CallLog) -> SendRefusal | None:
    """Why `call` (claimed, not yet sent) may not be sent now, judged as things are at this
    moment; None when it may. The same rules as the claim's, one call at a time: the business
    and all dialing not paused, the campaign still dialing, no cancel or hang-up asked for, the
    calling rules and the window allowing the call (call_decision, with the number's attempts
    as they are now), the callee on no do-not-call list and with a valid consent where its
    purpose needs one."""
    call = CallLog.objects.select_related("business", "request__campaign").get(pk=call.pk)
    request = call.request
    campaign = request.campaign if request else None
    if not call.business.can_dial or DialingControl.get().paused:
        return SendRefusal(PAUSED)
    if call.hang_up_requested_at or (request and request.cancel_requested_at):
        return SendRefusal("Canceled by request before the call was placed.", cancel=True)
    if campaign and campaign.status not in Campaign.DIALING_STATUSES:
        return SendRefusal(
            f"Not sent: the campaign was {campaign.get_status_display().lower()} before the "
            "call was placed.",
            cancel=campaign.status == Campaign.Status.CANCELED,
        )
    listed = do_not_call_listed(business_id=call.business_id, numbers=[call.to_number])
    if call.to_number in listed:
        return SendRefusal(do_not_call_reason(listed[call.to_number]), cancel=True)
    if consent := consent_refusal(business=call.business, campaign=campaign, number=call.to_number):
        return SendRefusal(consent, cancel=True)
    if request is None:
        return None
    request.business = call.business
    if campaign:
        campaign.business = call.business
    decision = request_decision(request)
    if decision.opening is None:
        return SendRefusal(f"Not called: {decision.reason}.", fail=True)
    if not decision.allowed:
        return SendRefusal(decision.reason, hold=decision)
    return None


def _refused(call: CallLog, refusal: SendRefusal) -> Placed:
    released = call_claim_release(
        call_id=call.pk,
        reason=refusal.reason,
        hold=refusal.hold,
        cancel=refusal.cancel,
        fail=refusal.fail,
    )
    return Placed.RELEASED if released else Placed.SETTLED


def call_create_failed(*, call: CallLog, error: TwilioError) -> None:
    """Settles a create Twilio refused, by whose fault it is: the number's fails its request; the
    business's pauses it; the account's pauses that subaccount, or all dialing for the main
    account (each leaves every request queued); a throttle retries in seconds; an unknown
    outcome keeps the slot for the callback or cleanup."""
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
        elif error.kind is ErrorKind.REFUSED_ACCOUNT and call.twilio_account_id:
            # A subaccount's credentials or standing: its businesses wait, the others dial on.
            twilio_account_pause(account_id=call.twilio_account_id, reason=message)
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


def call_claim_release(
    *,
    call_id: int,
    reason: str = "",
    hold: Decision | PoolHold | None = None,
    cancel: bool = False,
    fail: bool = False,
) -> bool:
    """Hands back a claim that was never sent, as if it had never been made: its pending CallLog
    is deleted and its request goes back to the queue with the attempt uncounted (at once, or at
    `hold`'s opening with its reason and rule), or is canceled with `reason` when `cancel` says
    so, when a cancel was asked for, or when its campaign was canceled, or fails with `reason`
    when `fail` says so (no instant the rules allow). False when the call was sent or
    settled meanwhile (then it is left as it is).

    Deleted rather than failed: no call existed, and a failed attempt in the admin would read as
    one that Twilio refused or the callee missed.
    """
    with transaction.atomic():
        request_id = CallLog.objects.filter(pk=call_id).values_list("request_id", flat=True).first()
        request = request_lock(request_id=request_id) if request_id else None
        call = (
            CallLog.objects.select_for_update(no_key=True)
            .filter(pk=call_id, status=Status.PENDING, dial_started_at__isnull=True)
            .filter(call_sid__isnull=True)
            .first()
        )
        if call is None:
            return False
        call.delete()
        if request is None:
            return True
        active = CallRequest.objects.filter(pk=request.pk, status=CallRequest.Status.ACTIVE)
        changes = {"attempts": F("attempts") - 1}
        if request.campaign and request.campaign.status == Campaign.Status.CANCELED:
            cancel, reason = True, "The campaign was canceled."
        elif request.cancel_requested_at and not cancel:
            cancel, reason = True, "Canceled by request before the call was placed."
        if cancel:
            active.status_move(CallRequest.Status.CANCELED, last_error=reason, **changes)
        elif fail:
            active.status_move(CallRequest.Status.FAILED, last_error=reason, **changes)
        elif hold is not None:
            active.status_move(CallRequest.Status.QUEUED, **hold_fields(hold), **changes)
        else:
            if reason:
                changes["last_error"] = reason
            active.status_move(CallRequest.Status.QUEUED, next_attempt_at=timezone.now(), **changes)
    return True

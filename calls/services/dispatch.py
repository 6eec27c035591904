"""Dispatch: claim what a business may dial now, then send each create to Twilio at no more than
TWILIO_CALLS_PER_SECOND (placing), within a wall-clock budget."""

import logging
import time

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Now
from django.utils import timezone

from calls.faults import fault_point
from calls.models import Business, CallLog, CallRequest, Campaign, DialingControl
from calls.services.calling_windows import requests_in_window
from calls.services.do_not_call import do_not_call_listed, do_not_call_reason
from calls.services.placing import (
    Placed,
    call_claim_release,
    call_place,
    requests_throttled_due,
)
from calls.services.task_queue import task_queue_after_commit
from calls.tasks import dispatch

logger = logging.getLogger(__name__)


def dispatch_claim_limit() -> int:
    # A dispatch waits for a calls-per-second token per call: one claim is at most its budget's
    # worth of tokens, so what it claims it can also send.
    return max(1, int(settings.TWILIO_CALLS_PER_SECOND * settings.DISPATCH_BUDGET_SECONDS))


def business_dispatch(*, business_id: int) -> list[int]:
    """Claims what the business may dial now and places those calls, again and again within
    DISPATCH_BUDGET_SECONDS of wall-clock time; returns the ids of the calls it claimed.

    The budget keeps a dispatch well inside django-q2's task timeout however slow the creates
    are. A claim it did not send by then is handed back (call_claim_release) before it returns,
    and it queues itself again for the rest. While its business has a throttled request due
    within the budget it waits for it (a throttle is Twilio asking the whole account to slow
    down, so a worker holding off is the pacing it wants); a later one gets another dispatch.
    """
    budget = settings.DISPATCH_BUDGET_SECONDS
    deadline = time.monotonic() + budget
    claimed = []
    while True:
        call_ids = business_claim(business_id=business_id)
        claimed += call_ids
        outcomes = _place_all(call_ids, deadline)
        if Placed.RELEASED in outcomes and time.monotonic() >= deadline:
            task_queue_after_commit(dispatch, business_id)  # out of time: the rest next time
            return claimed
        if len(call_ids) >= dispatch_claim_limit():
            if time.monotonic() < deadline:
                continue
            task_queue_after_commit(dispatch, business_id)
            return claimed
        if call_ids and Placed.THROTTLED not in outcomes:
            return claimed
        due = requests_throttled_due(business_id=business_id)
        if due is None:
            return claimed
        wait = (due - timezone.now()).total_seconds()
        if wait <= 0:
            return claimed  # due yet not claimed: something else holds it (a full cap, a pause)
        if wait > deadline - time.monotonic():
            if wait <= budget:
                task_queue_after_commit(dispatch, business_id)
            return claimed
        time.sleep(wait)


def _place_all(call_ids: list[int], deadline: float) -> set[Placed]:
    """Places each claimed call; any it did not reach by the deadline, or that an error left
    unsent, is handed back before it returns."""
    outcomes = set()
    unsent = list(call_ids)
    try:
        while unsent and time.monotonic() < deadline:
            outcomes.add(call_place(call_id=unsent[0], deadline=deadline))
            unsent.pop(0)
    finally:
        for call_id in unsent:
            call_claim_release(call_id=call_id)
            outcomes.add(Placed.RELEASED)
    return outcomes


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
    for request in _due_callable(business, due, free * 4 + 10):
        if len(call_ids) >= free:
            break
        if request.to_number in live_numbers:
            continue
        if request.campaign_id and campaign_room[request.campaign_id] <= 0:
            continue
        claimed = CallRequest.objects.filter(pk=request.pk).status_move(
            CallRequest.Status.ACTIVE, attempts=F("attempts") + 1, held_reason=""
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


def _due_callable(business: Business, due, limit: int) -> list[CallRequest]:
    """The first `limit` of `due` that may be called now: inside the callee's calling window
    (the others are held for its opening on the way, calls/services/calling_windows.py) and on
    no do-not-call list, in one lookup per round. A listed one (listed after it was queued) is
    canceled here, so it is never dialed, and the next are read: a run of listed numbers at the
    head of the queue does not hold up the rest."""
    while True:
        candidates = list(requests_in_window(business, due, limit=limit))
        numbers = [request.to_number for request in candidates]
        listed = do_not_call_listed(business_id=business.pk, numbers=numbers)
        if not listed:
            return candidates
        for request in candidates:
            if request.to_number in listed:
                # A canceled request leaves `due` (queued only), so each round moves on.
                CallRequest.objects.filter(pk=request.pk).status_move(
                    CallRequest.Status.CANCELED,
                    last_error=do_not_call_reason(listed[request.to_number]),
                )


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

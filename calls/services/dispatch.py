"""Dispatch: claim what a business may dial now, then send each create to Twilio at no more than
TWILIO_CALLS_PER_SECOND (placing), within a wall-clock budget."""

import logging
import time

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Now
from django.utils import timezone

from calls import clock
from calls.faults import fault_point
from calls.models import Business, CallLog, CallRequest, Campaign, DialingControl
from calls.services.caller_numbers import requests_hold_for_pool
from calls.services.calling_rules import requests_hold_by_rules
from calls.services.campaign_finishing import campaigns_finish_idle
from calls.services.dial_tokens import (
    DialTurnParked,
    account_calls_per_second,
    dial_turn_give_way,
    dial_turn_wake,
)
from calls.services.do_not_call import do_not_call_listed, do_not_call_reason
from calls.services.locks import business_lock, dialing_control_lock, twilio_account_lock
from calls.services.placing import (
    Placed,
    call_claim_release,
    call_place,
    requests_throttled_due,
)
from calls.services.task_queue import task_queue_after_commit
from calls.tasks import dispatch
from compliance.consent import requests_cancel_without_consent

logger = logging.getLogger(__name__)


def dispatch_claim_limit(*, account_id: int | None) -> int:
    # A dispatch waits for a calls-per-second token of its account per call: one claim is at
    # most its budget's worth of tokens, so what it claims it can also send.
    rate = account_calls_per_second(account_id=account_id)
    return max(1, int(rate * settings.DISPATCH_BUDGET_SECONDS))


def business_dispatch(*, business_id: int) -> list[int]:
    """Claims what the business may dial now and places those calls, again and again within
    DISPATCH_BUDGET_SECONDS of wall-clock time; returns the ids of the calls it claimed.

    The budget keeps a dispatch well inside django-q2's task timeout however slow the creates
    are. A claim it did not send by then is handed back (call_claim_release) before it returns,
    and it queues itself again for the rest. While its business has a throttled request due
    within the budget it waits for it (a throttle is Twilio asking the whole account to slow
    down, so a worker holding off is the pacing it wants); a later one gets another dispatch.

    It never holds its worker only to wait behind another business's dispatch for the account's
    tokens, nor claims to wait beside another dispatch of its own business: then it hands back
    what it has not sent and returns, its business parked for the account's dispatches to queue
    again (dial_tokens.dial_turn_give_way), so the dialing workers go to the accounts that have
    tokens to use. One that claimed wakes the parked as it ends.
    """
    account_id = (
        Business.objects.filter(pk=business_id).values_list("twilio_account_id", flat=True).first()
    )
    claimed = []
    try:
        _dispatch(business_id, account_id, claimed)
    except DialTurnParked:
        pass  # its unsent claims were handed back; a dispatch of the account queues it again
    finally:
        if claimed:
            dial_turn_wake(account_id=account_id)
    return claimed


def _dispatch(business_id: int, account_id: int | None, claimed: list[int]) -> None:
    budget = settings.DISPATCH_BUDGET_SECONDS
    deadline = time.monotonic() + budget
    claim_limit = dispatch_claim_limit(account_id=account_id)
    while True:
        if dial_turn_give_way(business_id=business_id, account_id=account_id, claiming=True):
            return
        call_ids = business_claim(business_id=business_id)
        claimed += call_ids
        outcomes = _place_all(call_ids, deadline)
        if Placed.RELEASED in outcomes and time.monotonic() >= deadline:
            task_queue_after_commit(dispatch, business_id)  # out of time: the rest next time
            return
        if len(call_ids) >= claim_limit:
            if time.monotonic() < deadline:
                continue
            task_queue_after_commit(dispatch, business_id)
            return
        if call_ids and Placed.THROTTLED not in outcomes:
            return
        due = requests_throttled_due(business_id=business_id)
        if due is None:
            return
        wait = (due - timezone.now()).total_seconds()
        if wait <= 0:
            return  # due yet not claimed: something else holds it (a full cap, a pause)
        if wait > deadline - time.monotonic():
            if wait <= budget:
                task_queue_after_commit(dispatch, business_id)
            return
        time.sleep(wait)


def _place_all(call_ids: list[int], deadline: float) -> set[Placed]:
    """Places each claimed call; any it did not reach by the deadline, or that an error (or
    giving way, DialTurnParked) left unsent, is handed back before it returns."""
    outcomes = set()
    unsent = list(call_ids)
    try:
        while unsent and time.monotonic() < deadline:
            outcomes.add(call_place(call_id=unsent[0], deadline=deadline, give_way=True))
            unsent.pop(0)
    finally:
        for call_id in unsent:
            call_claim_release(call_id=call_id)
            outcomes.add(Placed.RELEASED)
    return outcomes


def business_claim(*, business_id: int) -> list[int]:
    """Under the business row lock: marks due requests active and creates a pending CallLog each;
    then ends the business's campaigns that have nothing left (in their own transactions).

    The lock makes the count of live calls and the claims one step, so racing dispatchers for
    one business cannot exceed its cap; the partial unique constraints back it up. The claim
    locks no campaign: it only moves queued requests on (to active, held or canceled), and a
    campaign's end is judged under the campaign's own lock (campaign_finishing).
    """
    with transaction.atomic():
        business = business_lock(business_id=business_id)
        if business is None or not business.can_dial or DialingControl.get().paused:
            call_ids = []
        else:
            call_ids = _claim_within_caps(business)
    campaigns_finish_idle(business_id=business_id)
    return call_ids


def _claim_within_caps(business: Business) -> list[int]:
    live = CallLog.objects.filter(
        business=business,
        direction=CallLog.Direction.OUTBOUND,
        status__in=CallLog.LIVE_STATUSES,
    )
    free = business.max_concurrent_calls - live.count()
    if free > 0 and (room := _account_room(business)) is not None:
        free = min(free, room)
    free = min(free, dispatch_claim_limit(account_id=business.twilio_account_id))
    return _claim(business, live, free) if free > 0 else []


def _account_room(business: Business) -> int | None:
    """How many more live calls the business's Twilio account allows (its max_concurrent_calls;
    the main account's: TWILIO_MAX_CONCURRENT_CALLS), across all its businesses.

    The cap spans businesses: it is read and counted under the account's row lock (a
    subaccount's row, the control row for the main account), so two businesses' claims through
    one account are one after the other. None: the account has no cap."""
    account_id = business.twilio_account_id
    if account_id is None:
        cap = settings.TWILIO_MAX_CONCURRENT_CALLS
        if cap is not None:
            dialing_control_lock()
    else:
        account = twilio_account_lock(account_id=account_id)
        cap = account.max_concurrent_calls if account else None
    if cap is None:
        return None
    account_live = CallLog.objects.filter(
        twilio_account_id=account_id,
        direction=CallLog.Direction.OUTBOUND,
        status__in=CallLog.LIVE_STATUSES,
    ).count()
    return cap - account_live


# Due requests read while claiming. Each one read costs its share of the send-time judgement
# (rules, pool, do-not-call, consent), so the first page is a few per free slot: refilling the
# slot a call just freed reads a handful, not a page of 500. Each further page is twice the last,
# up to CLAIM_PAGE, so a backlog of 20,000 requests outside their window (CLAIM_ROWS_MAX) is
# still held in the claim that dials the requests behind it, a few statements a page.
CLAIM_FIRST_PAGE_PER_SLOT = 8
CLAIM_PAGE = 500
CLAIM_ROWS_MAX = 20_000


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
    full = {pk for pk, room in campaign_room.items() if room <= 0}
    now = clock.now()
    call_ids, passed = [], []
    after = Q()
    size, read = min(CLAIM_FIRST_PAGE_PER_SLOT * free, CLAIM_PAGE), 0
    while read < CLAIM_ROWS_MAX:
        # Read again each page: a campaign that filled up is left out of the rest, so a campaign
        # at its own concurrency at the head of the queue leaves the business's other slots to
        # the requests behind it.
        due = (
            CallRequest.objects.filter(
                business=business, status=CallRequest.Status.QUEUED, next_attempt_at__lte=Now()
            )
            .filter(Q(campaign__isnull=True) | Q(campaign__status__in=Campaign.DIALING_STATUSES))
            .exclude(campaign_id__in=full)
            .exclude(to_number__in=live_numbers)
            # A held request is due again by the database's clock if calls.clock is behind it.
            .exclude(pk__in=passed)
            .filter(after)
            .order_by("next_attempt_at", "id")
        )
        page = list(due[:size])
        if not page:
            break
        read += len(page)
        size = min(2 * size, CLAIM_PAGE)
        last = page[-1]
        after = Q(next_attempt_at__gt=last.next_attempt_at) | Q(
            next_attempt_at=last.next_attempt_at, pk__gt=last.pk
        )
        callable_ = _callable(business, page, now)
        passed += {r.pk for r in page} - {r.pk for r in callable_}
        for request in callable_:
            if request.to_number in live_numbers or request.campaign_id in full:
                continue
            call_id = _claim_one(business, request)
            if call_id is None:
                continue
            call_ids.append(call_id)
            live_numbers.add(request.to_number)
            if request.campaign_id:
                campaign_room[request.campaign_id] -= 1
                if campaign_room[request.campaign_id] <= 0:
                    full.add(request.campaign_id)
            if len(call_ids) >= free:
                return call_ids
    return call_ids


def _claim_one(business: Business, request: CallRequest) -> int | None:
    """Marks one request active with a pending CallLog; None when another writer moved it."""
    if request.attempts >= request.max_attempts:
        # Never dialed past its attempts: a request left queued so would wait forever.
        CallRequest.objects.filter(pk=request.pk).status_move(
            CallRequest.Status.FAILED,
            last_error=f"Gave up after {request.attempts} attempts.",
        )
        return None
    claimed = CallRequest.objects.filter(pk=request.pk).status_move(
        CallRequest.Status.ACTIVE, attempts=F("attempts") + 1, held_reason="", held_rule=""
    )
    if not claimed:
        return None
    call = CallLog.objects.create(
        business=business,
        twilio_account_id=business.twilio_account_id,
        request=request,
        lead_id=request.lead_id,
        direction=CallLog.Direction.OUTBOUND,
        from_number=business.phone_number,
        to_number=request.to_number,
    )
    fault_point("claim")
    return call.pk


def _callable(business: Business, page: list[CallRequest], now) -> list[CallRequest]:
    """The requests of `page` that may be called now: allowed by the calling rules and the
    window (the others are held for their opening, calls/services/calling_rules.py), with a
    caller number of the business's pool to call from (else all held until one has,
    caller_numbers.py) and on no do-not-call list, in one lookup. A listed one (listed after it
    was queued) is canceled here, so it is never dialed; so is one whose consent was revoked or
    expired (compliance/consent.py). Placing checks them all again right before the create."""
    inside = requests_hold_for_pool(business, requests_hold_by_rules(business, page, now))
    listed = do_not_call_listed(business_id=business.pk, numbers=[r.to_number for r in inside])
    for request in inside:
        if request.to_number in listed:
            CallRequest.objects.filter(pk=request.pk).status_move(
                CallRequest.Status.CANCELED,
                last_error=do_not_call_reason(listed[request.to_number]),
            )
    callable_ = [request for request in inside if request.to_number not in listed]
    return requests_cancel_without_consent(business=business, requests=callable_)

"""Calling windows applied to requests: dispatch holds a request whose callee may not be called
now, queuing and a retry schedule the next attempt at the next opening. The windows are judged at
calls.clock.now(); see compliance/windows.py for how."""

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from calls import clock
from calls.models import Business, CallRequest, Campaign
from compliance.windows import CallingWindow, WindowCheck, callee_time_zones, window_check

# Holds written by one claim at most, each an UPDATE under the business lock; what is left is
# held by the next dispatch (the cleanup queues one each minute while requests are due).
MAX_HOLDS_PER_CLAIM = 200


def callee_window_check(
    *, business: Business, campaign: Campaign | None, number: str, at: datetime | None = None
) -> WindowCheck:
    """Whether `number` may be called at `at` (now by default) for this business and campaign."""
    window = campaign.calling_window if campaign else business.calling_window
    zones = callee_time_zones(number, business.time_zone)
    return window_check(window, zones, clock.now() if at is None else at)


def requests_in_window(business: Business, due: QuerySet, *, limit: int) -> Iterator[CallRequest]:
    """Yields the requests of `due` (ordered by next_attempt_at, id) whose callee may be called
    now, at most `limit`. Each one outside its window is held on the way: its next attempt moves
    to the next opening, uncounted, with the reason. One whose window never opens is canceled
    with the reason (a configuration nobody can dial through; an operator retries it once the
    window is fixed). Holding them as it goes means a night's backlog at the head of the queue
    cannot starve the requests behind it in the same claim. Runs under the business lock."""
    now = clock.now()
    windows: dict[int | None, CallingWindow] = {None: business.calling_window}
    held: list[int] = []
    yielded = 0
    after = Q()
    while yielded < limit and len(held) < MAX_HOLDS_PER_CLAIM:
        # A held request may come round again later in the order: it is left out by id.
        page = list(due.filter(after).exclude(pk__in=held)[:limit])
        if not page:
            return
        for request in page:
            if request.campaign_id not in windows:
                campaign = Campaign.objects.get(pk=request.campaign_id)
                campaign.business = business
                windows[request.campaign_id] = campaign.calling_window
            zones = callee_time_zones(request.to_number, business.time_zone)
            check = window_check(windows[request.campaign_id], zones, now)
            if check.is_open:
                yielded += 1
                yield request
                if yielded >= limit:
                    return
                continue
            _request_hold(request, check)
            held.append(request.pk)
            if len(held) >= MAX_HOLDS_PER_CLAIM:
                return
        last = page[-1]
        after = Q(next_attempt_at__gt=last.next_attempt_at) | Q(
            next_attempt_at=last.next_attempt_at, pk__gt=last.pk
        )


def _request_hold(request: CallRequest, check: WindowCheck) -> None:
    rows = CallRequest.objects.filter(pk=request.pk, status=CallRequest.Status.QUEUED)
    if check.opening is None:
        rows.status_move(CallRequest.Status.CANCELED, last_error=f"Not called: {check.reason}.")
        return
    rows.update(
        next_attempt_at=check.opening,
        held_reason=check.reason,
        window_holds=F("window_holds") + 1,
        updated_at=timezone.now(),
    )


def next_attempt_fields(
    *, business: Business, campaign: Campaign | None, number: str, delay: timedelta
) -> dict:
    """The fields that schedule an attempt `delay` from now: at that time when the window is
    open then, else at the next opening, with the reason and one more hold counted. A window
    that never opens is left to dispatch, which cancels the request with the reason."""
    check = callee_window_check(
        business=business, campaign=campaign, number=number, at=clock.now() + delay
    )
    if check.is_open or check.opening is None:
        return {"next_attempt_at": timezone.now() + delay, "held_reason": ""}
    return {
        "next_attempt_at": check.opening,
        "held_reason": check.reason,
        "window_holds": F("window_holds") + 1,
    }

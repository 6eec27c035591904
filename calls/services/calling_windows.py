"""Calling windows applied to requests: dispatch holds a request whose callee may not be called
now, queuing and a retry schedule the next attempt at the next opening. The windows are judged at
calls.clock.now(); see compliance/windows.py for how."""

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone

from calls import clock
from calls.models import Business, CallRequest, Campaign
from compliance.windows import CallingWindow, WindowCheck, callee_time_zones, window_check


def callee_window_check(
    *, business: Business, campaign: Campaign | None, number: str, at: datetime | None = None
) -> WindowCheck:
    """Whether `number` may be called at `at` (now by default) for this business and campaign."""
    window = campaign.calling_window if campaign else business.calling_window
    zones = callee_time_zones(number, business.time_zone)
    return window_check(window, zones, clock.now() if at is None else at)


def requests_hold_outside_window(
    business: Business, requests: list[CallRequest], now: datetime
) -> list[CallRequest]:
    """The requests whose callee may be called at `now`, in order; every other one is held on
    the way: its next attempt moves to its window's next opening, uncounted, with the reason,
    in one UPDATE per opening (a night's backlog of thousands costs a handful of statements, so
    it is held in the same claim that dials the callable requests behind it). One whose window
    never opens is canceled with the reason (a configuration nobody can dial through; an
    operator retries it once the window is fixed). Runs under the business lock."""
    windows: dict[int | None, CallingWindow] = {None: business.calling_window}
    checks: dict[tuple, WindowCheck] = {}
    inside, held, never = [], defaultdict(list), defaultdict(list)
    for request in requests:
        if request.campaign_id not in windows:
            campaign = Campaign.objects.get(pk=request.campaign_id)
            campaign.business = business
            windows[request.campaign_id] = campaign.calling_window
        key = (request.campaign_id, callee_time_zones(request.to_number, business.time_zone))
        if key not in checks:
            checks[key] = window_check(windows[key[0]], key[1], now)
        check = checks[key]
        if check.is_open:
            inside.append(request)
        elif check.opening is None:
            never[check.reason].append(request.pk)
        else:
            held[check.opening, check.reason].append(request.pk)
    queued = CallRequest.objects.filter(status=CallRequest.Status.QUEUED)
    for (opening, reason), ids in held.items():
        queued.filter(pk__in=ids).update(
            next_attempt_at=opening,
            held_reason=reason,
            window_holds=F("window_holds") + 1,
            updated_at=timezone.now(),
        )
    for reason, ids in never.items():
        queued.filter(pk__in=ids).status_move(
            CallRequest.Status.CANCELED, last_error=f"Not called: {reason}."
        )
    return inside


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

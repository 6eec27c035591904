"""The calling rules applied to requests: queuing, the claim, the moment of the create and a
retry's schedule all ask the one decision (compliance.rules.call_decision) with the request's
purpose, its callee's address region, its business's or campaign's window and the number's
history with the business. A request a rule holds stays queued, uncounted, until the decision's
opening, with the rule and its reason; one no instant within the horizon allows fails with the
reason. Judged at calls.clock.now(), as the windows were."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone

from calls import clock
from calls.models import Business, CallLog, CallRequest, Campaign
from compliance.regions import number_place
from compliance.rules import Decision, call_decision, rules_all


@dataclass(frozen=True)
class NumberHistory:
    """What the caps and quiet periods count: when the business's creates to a number were sent
    (any outcome), and when its calls there answered by a person completed."""

    attempts: tuple[datetime, ...] = ()
    conversations: tuple[datetime, ...] = ()


NO_HISTORY = NumberHistory()


def history_lookback() -> timedelta:
    """How far back a history is read: the longest rolling period of any rule, plus a day for a
    conversation that ended well after its create was sent."""
    hours = max([0] + [max(rule.cap_hours or 0, rule.quiet_hours or 0) for rule in rules_all()])
    return timedelta(hours=hours, days=1)


def numbers_history(*, business_id: int, numbers, at: datetime) -> dict[str, NumberHistory]:
    """Each number's history with the business up to `at`, in one query for all of them."""
    rows = CallLog.objects.filter(
        business_id=business_id,
        direction=CallLog.Direction.OUTBOUND,
        to_number__in=set(numbers),
        dial_started_at__gte=at - history_lookback(),
        dial_started_at__lte=at,
    ).values_list("to_number", "dial_started_at", "status", "answered_by", "ended_at")
    attempts, conversations = defaultdict(list), defaultdict(list)
    for number, started, status, answered_by, ended in rows:
        attempts[number].append(started)
        # A completed call no machine answered was a conversation (without answering-machine
        # detection nothing says otherwise): the stricter reading.
        if status == CallLog.Status.COMPLETED and answered_by not in CallLog.MACHINE_ANSWERS:
            conversations[number].append(ended or started)
    return {
        number: NumberHistory(tuple(sorted(found)), tuple(sorted(conversations[number])))
        for number, found in attempts.items()
    }


def request_purpose(business: Business, campaign: Campaign | None) -> str:
    return campaign.purpose if campaign else business.default_purpose


def callee_decision(
    *,
    business: Business,
    campaign: Campaign | None,
    number: str,
    region: str = "",
    at: datetime | None = None,
    history: NumberHistory | None = None,
) -> Decision:
    """Whether `number` may be called at `at` (now by default) for this business and campaign,
    and if not, from when; its history is read when not given."""
    at = clock.now() if at is None else at
    if history is None:
        history = numbers_history(business_id=business.pk, numbers=[number], at=at).get(
            number, NO_HISTORY
        )
    return call_decision(
        number=number,
        purpose=request_purpose(business, campaign),
        at=at,
        region=region or None,
        window=campaign.calling_window if campaign else business.calling_window,
        attempts=history.attempts,
        conversations=history.conversations,
        fallback_zone=business.time_zone,
    )


def request_region(request: CallRequest) -> str:
    if not request.lead_id:
        return ""
    from leads.models import Lead

    return Lead.objects.filter(pk=request.lead_id).values_list("region", flat=True).first() or ""


def request_decision(request: CallRequest, *, at: datetime | None = None) -> Decision:
    return callee_decision(
        business=request.business,
        campaign=request.campaign,
        number=request.to_number,
        region=request_region(request),
        at=at,
    )


def hold_fields(decision) -> dict:
    """What a request held by `decision` keeps: its next attempt at the opening, the reason and
    the rule, one more hold counted. A hold of the caller-number pool (caller_numbers.PoolHold:
    every number at its cap) names no rule and is not a window's, so it is not counted."""
    if not isinstance(decision, Decision):
        return {
            "next_attempt_at": decision.opening,
            "held_reason": decision.reason,
            "held_rule": "",
        }
    return {
        "next_attempt_at": decision.opening,
        "held_reason": decision.reason,
        "held_rule": decision.rule.id if decision.rule else "",
        "window_holds": F("window_holds") + 1,
    }


def requests_hold_by_rules(
    business: Business, requests: list[CallRequest], now: datetime
) -> list[CallRequest]:
    """The requests that may be called at `now`, in order; every other one is held on the way:
    its next attempt moves to its decision's opening, uncounted, with the reason and the rule,
    in one UPDATE per opening (a night's backlog of thousands costs a handful of statements, so
    it is held in the same claim that dials the callable requests behind it). One no instant
    within the horizon allows fails with the reason (a configuration nobody can dial through; an
    operator retries it once it is fixed). The numbers' histories and the leads' regions are
    read in one query each; requests alike in all the decision reads share one decision. Runs
    under the business lock."""
    from leads.models import Lead

    campaigns: dict[int | None, Campaign | None] = {None: None}
    for campaign in Campaign.objects.filter(pk__in={r.campaign_id for r in requests} - {None}):
        campaign.business = business
        campaigns[campaign.pk] = campaign
    lead_ids = {r.lead_id for r in requests} - {None}
    regions = dict(Lead.objects.filter(pk__in=lead_ids).values_list("pk", "region"))
    histories = numbers_history(
        business_id=business.pk, numbers=[r.to_number for r in requests], at=now
    )
    decisions: dict[tuple, Decision] = {}
    allowed, held, never = [], defaultdict(list), defaultdict(list)
    for request in requests:
        region = regions.get(request.lead_id, "")
        history = histories.get(request.to_number, NO_HISTORY)
        key = (request.campaign_id, number_place(request.to_number), region, history)
        if key not in decisions:
            decisions[key] = callee_decision(
                business=business,
                campaign=campaigns[request.campaign_id],
                number=request.to_number,
                region=region,
                at=now,
                history=history,
            )
        decision = decisions[key]
        if decision.allowed:
            allowed.append(request)
        elif decision.opening is None:
            never[decision.reason].append(request.pk)
        else:
            held[decision.opening, decision.reason, decision.rule].append(request.pk)
    queued = CallRequest.objects.filter(status=CallRequest.Status.QUEUED)
    for (opening, reason, rule), ids in held.items():
        queued.filter(pk__in=ids).update(
            **hold_fields(Decision(False, opening, reason, rule)), updated_at=timezone.now()
        )
    for reason, ids in never.items():
        queued.filter(pk__in=ids).status_move(
            CallRequest.Status.FAILED, last_error=f"Not called: {reason}."
        )
    return allowed


def next_attempt_fields(*, request: CallRequest, delay: timedelta) -> dict:
    """The fields that schedule the request's next attempt `delay` from now: at that time when
    the rules allow it then, else at their next opening, held with the reason and the rule. One
    no instant allows is left to the claim, which fails it with the reason."""
    decision = request_decision(request, at=clock.now() + delay)
    if decision.allowed or decision.opening is None:
        return {"next_attempt_at": timezone.now() + delay, "held_reason": "", "held_rule": ""}
    return hold_fields(decision)

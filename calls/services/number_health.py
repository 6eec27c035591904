"""Caller numbers' health, from the service's own calls: a number whose calls go unanswered or
are rejected far more than its pool's is resting (quarantined) until it cools down.

Carriers' analytics engines label a number "Spam Likely" from how its calls behave, and the label
shows in the service's own figures first: the answer rate falls against the business's other
numbers, carriers reject its calls (SIP 603 Decline, 608 Rejected), callees who do answer hang up
within seconds. `numbers_health_run` judges every business's numbers over their ended calls of
the last NUMBER_HEALTH_DAYS (since their last restore), quarantines one with at least
NUMBER_HEALTH_MIN_ATTEMPTS of them whose figures cross a threshold, with the reason, and returns
a quarantined number after NUMBER_QUARANTINE_HOURS; a manager may restore one sooner. Each move
is one conditional UPDATE on the number's row (no other lock) and a record in the action log.
The cleanup runs it (at most every NUMBER_HEALTH_EVERY_SECONDS); `manage.py number_health` runs
the same and prints what it saw.
"""

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from calls.counts import ANSWERED, ENDED
from calls.models import Business, CallerNumber, CallLog, DoNotCall
from calls.services.action_log import operator_action_record
from calls.services.caller_numbers import business_day, pool_holds_release

Status = CallerNumber.Status
# SIP answers a carrier gives a call it refuses to put through: 603 Decline (the callee's
# network or device declined it) and 608 Rejected (an analytics engine blocked it, RFC 8688).
REJECTED_SIP_CODES = (603, 608)
# Who the action log names for what the health run did by itself.
HEALTH_ACTOR = "number health"
TARGET = "calls.callernumber"


@dataclass
class NumberFigures:
    """A number's calls over the health window: ended attempts and how they went."""

    number: CallerNumber
    attempts: int = 0
    answered: int = 0
    under_6: int = 0
    under_12: int = 0
    rejected: int = 0
    opt_outs: int = 0
    today: int = 0
    verdict: str = ""
    reasons: list[str] = field(default_factory=list)

    @property
    def answer_rate(self) -> float | None:
        return self.answered / self.attempts if self.attempts else None

    @property
    def under_6_share(self) -> float | None:
        """Of the answered calls, those under 6 s: callees hanging up on sight of the number."""
        return self.under_6 / self.answered if self.answered else None

    @property
    def under_12_share(self) -> float | None:
        return self.under_12 / self.answered if self.answered else None

    @property
    def rejected_share(self) -> float | None:
        return self.rejected / self.attempts if self.attempts else None


@dataclass
class BusinessHealth:
    business: Business
    median_answer_rate: float | None
    numbers: list[NumberFigures]


def business_number_figures(
    business: Business, now: datetime | None = None
) -> tuple[list[NumberFigures], float | None]:
    """Every non-retired number's figures, and the pool's median answer rate (over its active
    numbers with enough calls to judge)."""
    now = now or timezone.now()
    since = now - timedelta(days=settings.NUMBER_HEALTH_DAYS)
    numbers = list(
        CallerNumber.objects.filter(business=business)
        .exclude(status=Status.RETIRED)
        .order_by("number")
    )
    # A call counts for its number only if placed after the number's last restore.
    fresh = CallerNumber.objects.filter(
        business_id=OuterRef("business_id"), number=OuterRef("from_number")
    ).filter(Q(health_since__isnull=True) | Q(health_since__lte=OuterRef("created_at")))
    calls = CallLog.objects.filter(
        ENDED,
        Exists(fresh),
        business=business,
        direction=CallLog.Direction.OUTBOUND,
        created_at__gte=since,
    )
    answered = ENDED & ANSWERED
    rows = {
        row["from_number"]: row
        for row in calls.values("from_number").annotate(
            attempts=Count("pk"),
            answered=Count("pk", filter=answered),
            under_6=Count("pk", filter=answered & Q(duration_seconds__lt=6)),
            under_12=Count("pk", filter=answered & Q(duration_seconds__lt=12)),
            rejected=Count("pk", filter=Q(sip_response_code__in=REJECTED_SIP_CODES)),
        )
    }
    opt_outs = dict(
        DoNotCall.objects.filter(source_call__business=business, source_call__created_at__gte=since)
        .values_list("source_call__from_number")
        .annotate(n=Count("pk"))
    )
    today, _ = business_day(business, now)
    figures = []
    for number in numbers:
        row = rows.get(number.number, {})
        figures.append(
            NumberFigures(
                number=number,
                attempts=row.get("attempts", 0),
                answered=row.get("answered", 0),
                under_6=row.get("under_6", 0),
                under_12=row.get("under_12", 0),
                rejected=row.get("rejected", 0),
                opt_outs=opt_outs.get(number.number, 0),
                today=number.calls_on_day if number.counted_day == today else 0,
            )
        )
    judged = [
        f.answer_rate
        for f in figures
        if f.number.status == Status.ACTIVE and f.attempts >= settings.NUMBER_HEALTH_MIN_ATTEMPTS
    ]
    return figures, (statistics.median(judged) if judged else None)


def quarantine_reasons(figures: NumberFigures, median: float | None) -> list[str]:
    """Why a number's figures call for a quarantine (none: healthy, or too few calls to say)."""
    if figures.attempts < settings.NUMBER_HEALTH_MIN_ATTEMPTS:
        return []
    reasons = []
    floor = settings.NUMBER_ANSWER_RATE_FRACTION * median if median else None
    if floor is not None and figures.answer_rate < floor:
        reasons.append(
            f"answer rate {figures.answer_rate:.0%} over {figures.attempts} calls, under "
            f"{settings.NUMBER_ANSWER_RATE_FRACTION:g} of the pool's median {median:.0%}"
        )
    if figures.rejected_share > settings.NUMBER_MAX_REJECTED_SHARE:
        reasons.append(
            f"{figures.rejected_share:.0%} of its calls rejected by the carrier (SIP 603/608), "
            f"over {settings.NUMBER_MAX_REJECTED_SHARE:.0%}"
        )
    short = figures.under_6_share
    if short is not None and short > settings.NUMBER_MAX_SHORT_SHARE:
        reasons.append(
            f"{short:.0%} of its answered calls under 6 s, over "
            f"{settings.NUMBER_MAX_SHORT_SHARE:.0%}"
        )
    return reasons


def numbers_health_run(
    *, business_id: int | None = None, now: datetime | None = None
) -> list[BusinessHealth]:
    """Judges the numbers of every business with a pool (or of one): quarantines the unhealthy,
    returns those cooled down. What it saw and did, per business, for the command to print."""
    now = now or timezone.now()
    businesses = Business.objects.filter(
        Exists(CallerNumber.objects.filter(business=OuterRef("pk")).exclude(status=Status.RETIRED))
    ).order_by("pk")
    if business_id is not None:
        businesses = businesses.filter(pk=business_id)
    report = []
    for business in businesses:
        figures, median = business_number_figures(business, now)
        cooled = now - timedelta(hours=settings.NUMBER_QUARANTINE_HOURS)
        for each in figures:
            number = each.number
            if number.status == Status.QUARANTINED:
                if number.quarantined_at and number.quarantined_at <= cooled:
                    restored = numbers_restore(
                        numbers=[number.pk], actor=None, why="cooled down", now=now
                    )
                    each.verdict = "returned after cooling down" if restored else "quarantined"
                else:
                    each.verdict = f"quarantined: {number.quarantine_reason}"
                continue
            each.reasons = quarantine_reasons(each, median)
            if each.reasons:
                reason = "; ".join(each.reasons) + "."
                reason = reason[0].upper() + reason[1:]
                moved = number_quarantine(number=number, reason=reason, now=now)
                each.verdict = f"quarantined now: {reason}" if moved else "changed meanwhile"
            elif each.attempts < settings.NUMBER_HEALTH_MIN_ATTEMPTS:
                each.verdict = (
                    f"healthy so far ({each.attempts} of "
                    f"{settings.NUMBER_HEALTH_MIN_ATTEMPTS} calls needed to judge)"
                )
            else:
                each.verdict = "healthy"
        report.append(BusinessHealth(business, median, figures))
    return report


def number_quarantine(*, number: CallerNumber, reason: str, now: datetime) -> bool:
    """Rests an active number with the reason (recorded in the action log); False when it was
    no longer active (a manager retired it meanwhile)."""
    with transaction.atomic():
        moved = CallerNumber.objects.filter(pk=number.pk, status=Status.ACTIVE).update(
            status=Status.QUARANTINED, quarantine_reason=reason, quarantined_at=now, updated_at=now
        )
        if moved:
            operator_action_record(
                user=None,
                username=HEALTH_ACTOR,
                business_id=number.business_id,
                action="number_quarantine",
                description="Quarantine a caller number",
                target=TARGET,
                row_ids=[number.pk],
                summary=f"{number.number} quarantined: {reason}",
            )
    return bool(moved)


def numbers_restore(
    *, numbers, actor=None, why: str = "restored by a manager", now: datetime | None = None
) -> int:
    """Makes quarantined numbers active again, their health judged afresh from now on; lets
    go the requests their pool held; returns how many moved. Without `actor` (the health run's
    own return after the cooling period) each is recorded in the action log here; an admin
    action records itself."""
    now = now or timezone.now()
    restored = 0
    for number in CallerNumber.objects.filter(pk__in=list(numbers)):
        with transaction.atomic():
            moved = CallerNumber.objects.filter(pk=number.pk, status=Status.QUARANTINED).update(
                status=Status.ACTIVE,
                quarantine_reason="",
                quarantined_at=None,
                health_since=now,
                updated_at=now,
            )
            if not moved:
                continue
            restored += 1
            if actor is None:
                operator_action_record(
                    user=None,
                    username=HEALTH_ACTOR,
                    business_id=number.business_id,
                    action="number_restore",
                    description="Restore a caller number",
                    target=TARGET,
                    row_ids=[number.pk],
                    summary=f"{number.number} returned to the pool ({why}).",
                )
            pool_holds_release(business_id=number.business_id)
    return restored

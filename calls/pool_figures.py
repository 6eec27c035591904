"""What the dashboard, the number-health page and /metrics read about caller numbers: each
business's pool (numbers by status, calls today against the caps, the quarantined ones and why),
and Twilio's 12-second rule.

**The 12-second rule.** Twilio's terms: "No more than 10% of your outbound voice calls may be
under twelve (12) seconds in duration", measured at the (master) account level per calendar
month (support.twilio.com, "Meeting Minimum Phone Number Utilization Requirements", article
223136067). The terms do not say whether a call nobody answered counts; the stricter reading is
taken: every placed outbound call that ended in the month counts, and one unanswered (0 s) is
under 12 s. The share of answered calls under 12 s is shown beside it. The month is UTC's.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from calls.counts import ANSWERED, ENDED
from calls.models import CallerNumber, CallLog
from calls.services.caller_numbers import business_day

Status = CallerNumber.Status
SHORT = Q(duration_seconds__lt=12) | Q(duration_seconds__isnull=True)


def month_start(now: datetime | None = None) -> datetime:
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class ShortCallShare:
    """A month's ended outbound calls and those under 12 s (Twilio's rule: at most 10 %)."""

    ended: int = 0
    under_12: int = 0
    answered: int = 0
    answered_under_12: int = 0

    @property
    def share(self) -> float | None:
        return self.under_12 / self.ended if self.ended else None

    @property
    def answered_share(self) -> float | None:
        return self.answered_under_12 / self.answered if self.answered else None

    @property
    def warning(self) -> bool:
        return self.share is not None and self.share >= settings.SHORT_CALL_WARNING_SHARE


def short_call_shares(business_ids, now: datetime | None = None) -> dict[int, ShortCallShare]:
    """Per business of `business_ids` (None: all), this month's short-call share: one grouped
    query over the ended calls' index."""
    calls = CallLog.objects.filter(
        ENDED, direction=CallLog.Direction.OUTBOUND, ended_at__gte=month_start(now)
    )
    if business_ids is not None:
        calls = calls.filter(business_id__in=list(business_ids))
    rows = (
        calls.values_list("business_id")
        .annotate(
            ended=Count("pk"),
            under_12=Count("pk", filter=SHORT),
            answered=Count("pk", filter=ANSWERED),
            answered_under_12=Count("pk", filter=ANSWERED & SHORT),
        )
        .order_by()
    )
    return {pk: ShortCallShare(*figures) for pk, *figures in rows}


def account_short_call_shares(now: datetime | None = None) -> dict[str, ShortCallShare]:
    """This month's short-call share per Twilio account (its SID) the calls went out under: a
    subaccount's own, and the settings' main account's (calls placed under no subaccount)."""
    rows = (
        CallLog.objects.filter(
            ENDED, direction=CallLog.Direction.OUTBOUND, ended_at__gte=month_start(now)
        )
        .values_list("twilio_account__account_sid")
        .annotate(
            ended=Count("pk"),
            under_12=Count("pk", filter=SHORT),
            answered=Count("pk", filter=ANSWERED),
            answered_under_12=Count("pk", filter=ANSWERED & SHORT),
        )
        .order_by()
    )
    return {sid or settings.TWILIO_ACCOUNT_SID: ShortCallShare(*figures) for sid, *figures in rows}


def account_short_call_share(now: datetime | None = None) -> ShortCallShare:
    """The whole platform's month: the main account and its subaccounts together (Twilio bills
    subaccounts to the main account, and the console's account line reads this)."""
    shares = short_call_shares(None, now).values()
    return ShortCallShare(
        ended=sum(s.ended for s in shares),
        under_12=sum(s.under_12 for s in shares),
        answered=sum(s.answered for s in shares),
        answered_under_12=sum(s.answered_under_12 for s in shares),
    )


@dataclass
class PoolSummary:
    active: int = 0
    quarantined: int = 0
    retired: int = 0
    calls_today: int = 0
    caps: int = 0  # the active numbers' daily caps, added up
    quarantines: list = None  # (number, reason) of the quarantined ones


def pool_summaries(businesses) -> dict[int, PoolSummary]:
    """Per business of `businesses` that has a pool: its numbers by status, today's calls against
    the active numbers' caps, and the quarantined ones with their reasons (two queries)."""
    summaries: dict[int, PoolSummary] = {}
    days = {b.pk: business_day(b)[0] for b in businesses}
    rows = (
        CallerNumber.objects.filter(business_id__in=list(days))
        .values_list("business_id", "status", "counted_day")
        .annotate(n=Count("pk"), calls=Coalesce(Sum("calls_on_day"), 0), caps=Sum("daily_cap"))
        .order_by()
    )
    for business_id, status, day, n, calls, caps in rows:
        summary = summaries.setdefault(business_id, PoolSummary(quarantines=[]))
        setattr(summary, status, getattr(summary, status) + n)
        if day == days[business_id]:
            summary.calls_today += calls
        if status == Status.ACTIVE:
            summary.caps += caps
    quarantined = CallerNumber.objects.filter(
        business_id__in=list(summaries), status=Status.QUARANTINED
    ).order_by("number")
    for business_id, number, reason in quarantined.values_list(
        "business_id", "number", "quarantine_reason"
    ):
        summaries[business_id].quarantines.append((number, reason))
    return summaries

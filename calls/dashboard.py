"""What the operators' dashboard and /metrics read: per business, live calls against the cap, the
queue, the last hour's outcomes, the pause; calls per minute by outcome over a day.

Each figure is one grouped query over a partial index (live calls, queued requests, outbound
calls by end time), whatever the number of businesses, so the cost follows the live calls, the
queue and the day's ended calls, never the whole history
(tests/integration/test_dashboard.py counts the queries).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Avg, Count, Min, Q, Sum
from django.db.models.functions import TruncMinute
from django.utils import timezone

from calls.models import Business, CallLog, CallRequest, DialingControl, DoNotCall
from calls.services.do_not_call import DO_NOT_CALL_PREFIX

Status = CallLog.Status
OUTCOMES = (Status.COMPLETED, Status.BUSY, Status.NO_ANSWER, Status.FAILED, Status.CANCELED)


@dataclass
class BusinessState:
    business: Business
    live: int = 0
    queued: int = 0
    due: int = 0
    oldest_due_at: datetime | None = None
    # Outbound calls that ended in the last hour, by status.
    outcomes: dict = field(default_factory=dict)
    # Its webhook endpoint failed for a day: its latest finished message was given up.
    webhook_failing: bool = False

    @property
    def cap(self) -> int:
        return self.business.max_concurrent_calls

    @property
    def paused(self) -> bool:
        return bool(self.business.paused_reason) or not self.business.is_active

    @property
    def oldest_due_wait(self) -> timedelta | None:
        if self.oldest_due_at is None:
            return None
        return max(timezone.now() - self.oldest_due_at, timedelta(0))

    @property
    def ended(self) -> int:
        return sum(self.outcomes.values())

    @property
    def answer_rate(self) -> float | None:
        """Answered among the outbound calls that ended in the last hour; None with none."""
        return self.outcomes.get(Status.COMPLETED, 0) / self.ended if self.ended else None


def _live_outbound():
    return CallLog.objects.filter(
        direction=CallLog.Direction.OUTBOUND, status__in=CallLog.LIVE_STATUSES
    )


def _ended_outbound(since: datetime):
    return CallLog.objects.filter(direction=CallLog.Direction.OUTBOUND, ended_at__gte=since)


def business_states(businesses) -> list[BusinessState]:
    """The state of each business of `businesses` (a queryset: the caller scopes it), paused and
    inactive ones first, then by name. Four queries, however many businesses and rows (five when
    one has a webhook URL)."""
    now = timezone.now()
    states = {
        b.pk: BusinessState(business=b)
        for b in businesses.order_by("is_active", "-paused_reason", "name")
    }
    ids = list(states)
    if not ids:
        return []
    live = _live_outbound().filter(business_id__in=ids).values_list("business_id")
    for business_id, n in live.annotate(n=Count("pk")).order_by():
        states[business_id].live = n
    due = Q(next_attempt_at__lte=now)
    queue = (
        CallRequest.objects.filter(business_id__in=ids, status=CallRequest.Status.QUEUED)
        .values_list("business_id")
        .annotate(
            n=Count("pk"), due=Count("pk", filter=due), oldest=Min("next_attempt_at", filter=due)
        )
        .order_by()
    )
    for business_id, queued, n_due, oldest in queue:
        state = states[business_id]
        state.queued, state.due, state.oldest_due_at = queued, n_due, oldest
    ended = (
        _ended_outbound(now - timedelta(hours=1))
        .filter(business_id__in=ids)
        .values_list("business_id", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for business_id, status, n in ended:
        states[business_id].outcomes[status] = n
    with_webhooks = [pk for pk, state in states.items() if state.business.webhook_url]
    if with_webhooks:
        from webhooks.endpoints import failing_business_ids

        for business_id in failing_business_ids(with_webhooks):
            states[business_id].webhook_failing = True
    return list(states.values())


def dialing_paused() -> DialingControl | None:
    """The switch for all dialing when it is off; None while dialing runs."""
    control = DialingControl.objects.filter(paused=True).first()
    return control


@dataclass
class OutcomeSeries:
    """Calls ended per `bin_minutes`-minute bin over a period, by outcome (oldest bin first)."""

    start: datetime
    bin_minutes: int
    counts: list[dict] = field(default_factory=list)

    def per_minute(self, outcome: str) -> list[float]:
        return [bin_.get(outcome, 0) / self.bin_minutes for bin_ in self.counts]


def outcomes_per_minute(businesses, *, hours: int = 24, bin_minutes: int = 10) -> OutcomeSeries:
    """Outbound calls of `businesses` ended in the last `hours`, counted per minute in the
    database, gathered into bins of `bin_minutes` (a day is 144 bars, not 1,440)."""
    now = timezone.now()
    start = (now - timedelta(hours=hours)).replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % bin_minutes)
    n_bins = int((now - start).total_seconds() // (bin_minutes * 60)) + 1
    series = OutcomeSeries(start=start, bin_minutes=bin_minutes)
    series.counts = [defaultdict(int) for _ in range(n_bins)]
    rows = (
        _ended_outbound(start)
        .filter(business__in=businesses)
        .annotate(minute=TruncMinute("ended_at"))
        .values_list("minute", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for minute, status, n in rows:
        index = int((minute - start).total_seconds() // (bin_minutes * 60))
        if 0 <= index < n_bins:
            series.counts[index][status] += n
    return series


@dataclass
class CampaignKpis:
    """A campaign's progress and results, counted from its requests and their calls."""

    requests: dict
    attempts: int
    ended: int
    answered: int
    average_talk_seconds: float | None
    # What its calls cost by currency ({"USD": Decimal("0.039")}), from the calls Twilio has
    # priced; how many of its ended calls Twilio placed (so may price) and how many it priced.
    costs: dict = field(default_factory=dict)
    priceable: int = 0
    priced: int = 0

    @property
    def cost_text(self) -> str:
        """Each currency's sum ("1.20 EUR, 0.039 USD"); empty while nothing is priced."""
        return ", ".join(f"{_amount(total)} {unit}".strip() for unit, total in self.costs.items())

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    @property
    def settled(self) -> int:
        open_ = sum(self.requests.get(s, 0) for s in CallRequest.OPEN_STATUSES)
        return self.total - open_

    @property
    def reached(self) -> int:
        return self.requests.get(CallRequest.Status.DONE, 0)

    @property
    def answer_rate(self) -> float | None:
        return self.answered / self.ended if self.ended else None

    @property
    def attempts_per_reached(self) -> float | None:
        return self.attempts / self.reached if self.reached else None


def campaign_kpis(campaign) -> CampaignKpis:
    """Three grouped queries over the campaign's requests and their calls (foreign-key indexes)."""
    requests = dict(campaign.requests.values_list("status").annotate(n=Count("pk")).order_by())
    completed = Q(status=Status.COMPLETED)
    figures = CallLog.objects.filter(request__campaign=campaign).aggregate(
        attempts=Count("pk"),
        ended=Count("pk", filter=Q(ended_at__isnull=False)),
        answered=Count("pk", filter=completed),
        talk=Avg("duration_seconds", filter=completed),
        priceable=Count("pk", filter=Q(ended_at__isnull=False, call_sid__isnull=False)),
    )
    prices = (
        CallLog.objects.filter(request__campaign=campaign, price__isnull=False)
        .values_list("price_unit")
        .annotate(total=Sum("price"), n=Count("pk"))
        .order_by("price_unit")
    )
    costs, priced = {}, 0
    for unit, total, n in prices:
        costs[unit] = total
        priced += n
    return CampaignKpis(
        requests=requests,
        attempts=figures["attempts"],
        ended=figures["ended"],
        answered=figures["answered"],
        average_talk_seconds=figures["talk"],
        costs=costs,
        priceable=figures["priceable"],
        priced=priced,
    )


def _amount(total) -> str:
    """Cents at least ("0.10"), and every further decimal Twilio gave ("0.039")."""
    total = Decimal(total)
    cents = total.quantize(Decimal("0.01"))
    return str(cents) if cents == total else str(total.normalize())


MACHINE = Q(answered_by__in=CallLog.MACHINE_ANSWERS)


@dataclass
class CampaignDialing:
    """What a campaign's dialing did, and what it held back and why (lawful dialing)."""

    placed: int  # attempts Twilio accepted (they have a SID)
    held_for_window: int  # requests the callee's calling window held at least once
    blocked_by_do_not_call: int  # requests canceled at dial time: the number was listed
    opted_out: int  # callees who pressed the opt-out key during one of its calls
    reached_machine: int  # answered by a machine (answering-machine detection)
    reached_person: int  # answered and not detected as a machine


def campaign_dialing(campaign) -> CampaignDialing:
    """Three grouped queries over the campaign's requests, their calls and the opt-outs they
    caused (foreign-key indexes)."""
    requests = campaign.requests.aggregate(
        held=Count("pk", filter=Q(window_holds__gt=0)),
        blocked=Count(
            "pk",
            filter=Q(status=CallRequest.Status.CANCELED, last_error__startswith=DO_NOT_CALL_PREFIX),
        ),
    )
    answered = Q(answered_at__isnull=False) | Q(status=Status.COMPLETED)
    calls = CallLog.objects.filter(request__campaign=campaign).aggregate(
        placed=Count("pk", filter=Q(call_sid__isnull=False)),
        machine=Count("pk", filter=MACHINE),
        person=Count("pk", filter=answered & ~MACHINE),
    )
    opted_out = DoNotCall.objects.filter(source_call__request__campaign=campaign).count()
    return CampaignDialing(
        placed=calls["placed"],
        held_for_window=requests["held"],
        blocked_by_do_not_call=requests["blocked"],
        opted_out=opted_out,
        reached_machine=calls["machine"],
        reached_person=calls["person"],
    )

"""What the operators' dashboard, a campaign's page and /metrics read: per business, live calls
against the cap, the queue, the last hour's calls, the pause; calls per minute by outcome over a
day; a campaign's progress and results. Every count of calls is one of calls.counts' definitions.

Each figure is one grouped query over a partial index (live calls, queued requests, outbound
calls by creation and by end time), whatever the number of businesses, so the cost follows the
live calls, the queue and the day's calls, never the whole history
(tests/integration/test_dashboard.py counts the queries).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Avg, Count, Min, Q, Sum
from django.db.models.functions import TruncMinute
from django.utils import timezone

from calls.counts import DEFINITIONS, ENDED, CallCounts, count_aggregates
from calls.models import Business, CallLog, CallRequest, DialingControl
from calls.services.do_not_call import DO_NOT_CALL_PREFIX
from compliance.consent import NO_CONSENT_PREFIX
from compliance.models import DoNotCall
from compliance.rules import rule_by_id

Status = CallLog.Status
OUTCOMES = (Status.COMPLETED, Status.BUSY, Status.NO_ANSWER, Status.FAILED, Status.CANCELED)
# The dashboard's and /metrics' recent figures: the calls dialed in this span.
RECENT = timedelta(hours=1)


@dataclass
class BusinessState:
    business: Business
    live: int = 0
    queued: int = 0
    due: int = 0
    oldest_due_at: datetime | None = None
    # Outbound calls dialed in the last hour (RECENT): the figures, and the ended ones by status.
    counts: CallCounts = field(default_factory=CallCounts)
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
    def answer_rate(self) -> float | None:
        return self.counts.answer_rate


def _live_outbound():
    return CallLog.objects.filter(
        direction=CallLog.Direction.OUTBOUND, status__in=CallLog.LIVE_STATUSES
    )


def _ended_outbound(since: datetime):
    return CallLog.objects.filter(ENDED, direction=CallLog.Direction.OUTBOUND, ended_at__gte=since)


def recent_outbound(since: datetime):
    """Outbound calls dialed since `since` (the calllog_outbound_created_idx index)."""
    return CallLog.objects.filter(direction=CallLog.Direction.OUTBOUND, created_at__gte=since)


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
    by_outcome = {f"ended_{s}": Count("pk", filter=ENDED & Q(status=s)) for s in OUTCOMES}
    recent = (
        recent_outbound(now - RECENT)
        .filter(business_id__in=ids)
        .values("business_id")
        .annotate(**count_aggregates(), **by_outcome)
        .order_by()
    )
    for row in recent:
        state = states[row.pop("business_id")]
        ended = {s: row.pop(f"ended_{s}") for s in OUTCOMES}
        state.outcomes = {s: n for s, n in ended.items() if n}
        state.counts = CallCounts(**row)
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


# A campaign's recent figures (answer rate, calls per minute, its pace for the estimate).
CAMPAIGN_RECENT = timedelta(minutes=15)


@dataclass
class CampaignResults:
    """A campaign's progress and results, counted from its requests and their calls."""

    requests: dict  # its requests by status
    counts: CallCounts  # its calls, as calls.counts defines each figure
    recent: CallCounts  # the same for its calls dialed in the last CAMPAIGN_RECENT
    live: int  # its calls live now
    held: int  # queued requests a calling rule or the window holds now
    held_for_window: int  # requests the calling rules or the window held at least once
    blocked_by_do_not_call: int  # requests canceled at dial time: the number was listed
    canceled_for_consent: int  # requests canceled at dial time: their consent had ended
    opted_out: int  # callees who pressed the opt-out key during one of its calls
    settled_recently: int  # requests settled in the last CAMPAIGN_RECENT
    average_talk_seconds: float | None
    # What its calls cost by currency ({"USD": Decimal("0.039")}), from the calls Twilio has
    # priced; how many of its ended calls Twilio priced (ended calls are the ones it may price).
    costs: dict = field(default_factory=dict)
    priced: int = 0
    running: bool = True
    # (label, count) of the requests held now, per rule (the window's last), most first.
    held_by_rule: list = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    @property
    def queued(self) -> int:
        return self.requests.get(CallRequest.Status.QUEUED, 0)

    @property
    def open(self) -> int:
        return sum(self.requests.get(s, 0) for s in CallRequest.OPEN_STATUSES)

    @property
    def settled(self) -> int:
        return self.total - self.open

    @property
    def priceable(self) -> int:
        return self.counts.ended

    @property
    def cost_text(self) -> str:
        """Each currency's sum ("1.20 EUR, 0.039 USD"); empty while nothing is priced."""
        return ", ".join(f"{_amount(total)} {unit}".strip() for unit, total in self.costs.items())

    @property
    def calls_per_minute(self) -> float:
        """Attempts per minute over the last CAMPAIGN_RECENT."""
        return self.recent.attempts / (CAMPAIGN_RECENT.total_seconds() / 60)

    @property
    def attempts_per_person(self) -> float | None:
        people = self.counts.reached_person
        return self.counts.attempts / people if people else None

    @property
    def finishes_in(self) -> timedelta | None:
        """When its open requests will be settled at the last CAMPAIGN_RECENT's pace; None while
        it is not running, or nothing settled lately to measure a pace by."""
        if not self.running or not self.open or not self.settled_recently:
            return None
        return CAMPAIGN_RECENT * (self.open / self.settled_recently)


WINDOW_LABEL = "The calling window (the business's or campaign's hours and days)"


def held_now(now) -> Q:
    return Q(status=CallRequest.Status.QUEUED, next_attempt_at__gt=now) & ~Q(held_reason="")


def held_rule_label(rule_id: str) -> str:
    """A request's `held_rule` as people read it: "Florida: us-fl-telemarketing (Fla. Stat.
    501.616(6))"; the window's when no rule holds it."""
    if not rule_id:
        return WINDOW_LABEL
    rule = rule_by_id(rule_id)
    return f"{rule.name}: {rule.id} ({rule.citation})" if rule else rule_id


def campaign_results(campaign) -> CampaignResults:
    """Four grouped queries over the campaign's requests, their calls, their prices and the
    opt-outs they caused (foreign-key indexes)."""
    now = timezone.now()
    since = now - CAMPAIGN_RECENT
    closed = ~Q(status__in=CallRequest.OPEN_STATUSES)
    requests = campaign.requests.aggregate(
        **{f"n_{s}": Count("pk", filter=Q(status=s)) for s in CallRequest.Status.values},
        held=Count("pk", filter=held_now(now)),
        held_for_window=Count("pk", filter=Q(window_holds__gt=0)),
        blocked=Count(
            "pk",
            filter=Q(status=CallRequest.Status.CANCELED, last_error__startswith=DO_NOT_CALL_PREFIX),
        ),
        without_consent=Count(
            "pk",
            filter=Q(status=CallRequest.Status.CANCELED, last_error__startswith=NO_CONSENT_PREFIX),
        ),
        settled_recently=Count("pk", filter=closed & Q(updated_at__gte=since)),
    )
    calls = CallLog.objects.filter(request__campaign=campaign)
    recent = {
        f"recent_{name}": Count("pk", filter=condition & Q(created_at__gte=since))
        for name, condition in DEFINITIONS.items()
    }
    figures = calls.aggregate(
        **count_aggregates(),
        **recent,
        live=Count("pk", filter=Q(status__in=CallLog.LIVE_STATUSES)),
        talk=Avg("duration_seconds", filter=Q(status=Status.COMPLETED)),
    )
    prices = (
        calls.filter(price__isnull=False)
        .values_list("price_unit")
        .annotate(total=Sum("price"), n=Count("pk"))
        .order_by("price_unit")
    )
    costs, priced = {}, 0
    for unit, total, n in prices:
        costs[unit] = total
        priced += n
    opted_out = DoNotCall.objects.filter(source_call__request__campaign=campaign).count()
    held_by_rule = (
        campaign.requests.filter(held_now(now))
        .values_list("held_rule")
        .annotate(n=Count("pk"))
        .order_by("-n", "held_rule")
    )
    return CampaignResults(
        requests={s: requests[f"n_{s}"] for s in CallRequest.Status.values if requests[f"n_{s}"]},
        counts=CallCounts(**{name: figures[name] for name in DEFINITIONS}),
        recent=CallCounts(**{name: figures[f"recent_{name}"] for name in DEFINITIONS}),
        live=figures["live"],
        held=requests["held"],
        held_by_rule=sorted(
            ((held_rule_label(rule_id), n) for rule_id, n in held_by_rule),
            key=lambda entry: entry[0] == WINDOW_LABEL,
        ),
        held_for_window=requests["held_for_window"],
        blocked_by_do_not_call=requests["blocked"],
        canceled_for_consent=requests["without_consent"],
        opted_out=opted_out,
        settled_recently=requests["settled_recently"],
        average_talk_seconds=figures["talk"],
        costs=costs,
        priced=priced,
        running=campaign.status == campaign.Status.RUNNING,
    )


def _amount(total) -> str:
    """Cents at least ("0.10"), and every further decimal Twilio gave ("0.039")."""
    total = Decimal(total)
    cents = total.quantize(Decimal("0.01"))
    return str(cents) if cents == total else str(total.normalize())

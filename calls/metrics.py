"""/metrics: the queue in Prometheus' text format, read from the database at scrape time, so every
web worker on every host answers the same figures (nothing is counted in a process's memory).

Served only to `Authorization: Bearer <METRICS_TOKEN>`; without that setting it does not exist.
"""

import hmac
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from calls.counts import DEFINITIONS, PLACED
from calls.dashboard import business_states
from calls.health import health_checks
from calls.models import Business, CallerNumber, CallLog, EndedCallTally
from calls.pool_figures import account_short_call_shares, month_start, short_call_shares
from calls.services.number_health import business_number_figures

# A call's `ended_at` is stamped in the transaction that ends it, which commits a moment later:
# the tally counts only calls that ended longer ago than this, so none commits behind it.
TALLY_LAG = timedelta(seconds=60)


def ended_call_totals() -> dict[str, int]:
    """Calls ended so far (calls.counts.ENDED: placed calls, so never one Twilio refused), by
    status: the tally moved forward over the calls ended since the last scrape (a range of the
    ended-calls index), under a lock, so two scrapers racing count each call once."""
    upto = timezone.now() - TALLY_LAG
    with transaction.atomic():
        EndedCallTally.objects.bulk_create(
            [EndedCallTally(status=s) for s in CallLog.TERMINAL_STATUSES], ignore_conflicts=True
        )
        tallies = {t.status: t for t in EndedCallTally.objects.select_for_update()}
        since = min((t.counted_until for t in tallies.values() if t.counted_until), default=None)
        ended = CallLog.objects.filter(PLACED, ended_at__isnull=False, ended_at__lte=upto)
        if since is not None:
            ended = ended.filter(ended_at__gt=since)
        for status, n in ended.values_list("status").annotate(n=Count("pk")).order_by():
            if status in tallies:
                tallies[status].ended += n
        for tally in tallies.values():
            tally.counted_until = upto if since is None or upto > since else since
        EndedCallTally.objects.bulk_update(tallies.values(), ["ended", "counted_until"])
    return {status: tally.ended for status, tally in tallies.items()}


class QueueCollector:
    """Everything /metrics reports, read when Prometheus scrapes."""

    def collect(self):
        labels = ["business_id"]
        live = GaugeMetricFamily("outbound_calls_live", "Live outbound calls.", labels=labels)
        queued = GaugeMetricFamily(
            "outbound_calls_queued", "Call requests waiting to be dialed.", labels=labels
        )
        cap = GaugeMetricFamily(
            "outbound_calls_cap", "Most live outbound calls allowed.", labels=labels
        )
        paused = GaugeMetricFamily(
            "business_paused", "1 while the business is paused or inactive.", labels=labels
        )
        last_hour = GaugeMetricFamily(
            "outbound_calls_last_hour",
            "Outbound calls dialed in the last hour, by calls.counts' figure (as the dashboard).",
            labels=["business_id", "count"],
        )
        for state in business_states(Business.objects.all()):
            key = [str(state.business.pk)]
            live.add_metric(key, state.live)
            queued.add_metric(key, state.queued)
            cap.add_metric(key, state.cap)
            paused.add_metric(key, 1 if state.paused else 0)
            for name in DEFINITIONS:
                last_hour.add_metric([*key, name], getattr(state.counts, name))
        yield from (live, queued, cap, paused, last_hour)
        ended = CounterMetricFamily(
            "calls_ended", "Placed calls ended, by final status.", labels=["status"]
        )
        for status, n in sorted(ended_call_totals().items()):
            ended.add_metric([status], n)
        yield ended
        yield from self.caller_numbers()
        yield from self.short_calls()
        yield from self.liveness()

    def caller_numbers(self):
        """Each pool number's day and health, as the number-health page reads them."""
        labels = ["business_id", "number"]
        families = {
            "today": ("caller_number_calls_today", "Calls placed from the number today."),
            "cap": ("caller_number_daily_cap", "Calls the number may place per day."),
            "quarantined": ("caller_number_quarantined", "1 while the number is quarantined."),
            "attempts": (
                "caller_number_calls_judged",
                "Its ended calls its health is judged over (the last NUMBER_HEALTH_DAYS).",
            ),
            "answer_rate": ("caller_number_answer_rate", "Answered among its ended calls."),
            "under_6": (
                "caller_number_under_6s_share",
                "Of its answered calls, those under 6 s.",
            ),
            "rejected": (
                "caller_number_rejected_share",
                "Of its ended calls, those the carrier rejected (SIP 603/608).",
            ),
        }
        gauges = {
            key: GaugeMetricFamily(name, text, labels=labels)
            for key, (name, text) in families.items()
        }
        pools = Business.objects.filter(caller_numbers__isnull=False).distinct().order_by("pk")
        for business in pools:
            figures, _ = business_number_figures(business)
            for each in figures:
                key = [str(business.pk), each.number.number]
                gauges["today"].add_metric(key, each.today)
                gauges["cap"].add_metric(key, each.number.daily_cap)
                quarantined = each.number.status == CallerNumber.Status.QUARANTINED
                gauges["quarantined"].add_metric(key, 1 if quarantined else 0)
                gauges["attempts"].add_metric(key, each.attempts)
                for name, share in (
                    ("answer_rate", each.answer_rate),
                    ("under_6", each.under_6_share),
                    ("rejected", each.rejected_share),
                ):
                    if share is not None:
                        gauges[name].add_metric(key, share)
        yield from gauges.values()

    def short_calls(self):
        """Twilio's 12-second rule: this month's outbound calls under 12 s, for the account and
        per business (calls.pool_figures says which calls count)."""
        month = month_start().strftime("%Y-%m")
        share = GaugeMetricFamily(
            "outbound_calls_under_12s_share",
            "This month's ended outbound calls under 12 s, per Twilio account (at most 0.10).",
            labels=["account", "month"],
        )
        ended = GaugeMetricFamily(
            "outbound_calls_month_ended",
            "Outbound calls ended this month, per business.",
            labels=["business_id", "month"],
        )
        under = GaugeMetricFamily(
            "outbound_calls_month_under_12s",
            "Outbound calls ended this month under 12 s, per business.",
            labels=["business_id", "month"],
        )
        for account_sid, figures in sorted(account_short_call_shares().items()):
            if figures.share is not None:
                share.add_metric([account_sid, month], figures.share)
        for business_id, figures in sorted(short_call_shares(None).items()):
            ended.add_metric([str(business_id), month], figures.ended)
            under.add_metric([str(business_id), month], figures.under_12)
        yield from (share, ended, under)

    def liveness(self):
        """The workers, the broker and the cleanup, as /healthz and the console read them."""
        checks = health_checks()
        cluster, broker, cleanup = checks["cluster"], checks["broker"], checks["cleanup"]
        yield GaugeMetricFamily(
            "worker_clusters",
            "Workers (qcluster) that checked in within the last minute.",
            value=cluster.get("clusters", 0),
        )
        yield _age("worker_heartbeat_age_seconds", "the latest worker check-in", cluster)
        yield _age("cleanup_last_success_age_seconds", "the cleanup last succeeded", cleanup)
        yield GaugeMetricFamily(
            "task_queue_backlog",
            "Tasks waiting in the broker (absent while it cannot be reached).",
            **({"value": broker["queued"]} if "queued" in broker else {}),
        )
        yield GaugeMetricFamily(
            "task_queue_oldest_age_seconds",
            "Seconds the task waiting longest has waited (0 with none waiting).",
            value=broker.get("oldest_task_age_seconds") or 0,
        )


def _age(name: str, what: str, check: dict) -> GaugeMetricFamily:
    age = GaugeMetricFamily(name, f"Seconds since {what} (absent until it has once).")
    if check.get("age_seconds") is not None:
        age.add_metric([], check["age_seconds"])
    return age


def metrics_allowed(request) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), settings.METRICS_TOKEN.encode()
    )


@require_GET
def metrics(request):
    if not settings.METRICS_TOKEN:
        raise Http404("Metrics are off: METRICS_TOKEN is not set.")
    if not metrics_allowed(request):
        response = HttpResponse("A bearer token is required.", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

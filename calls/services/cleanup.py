"""The scheduled cleanup: database work only, under a lease so runs never overlap. Each step's
cost follows the number of stuck calls, not the size of the tables (partial indexes)."""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from calls.faults import fault_point
from calls.models import Business, CallLog, CallRequest, Lease
from calls.services.campaign_finishing import campaigns_finish_idle
from calls.services.number_health import numbers_health_run
from calls.services.prices import PRICE_CHECK_LIMIT, PRICE_CHECK_WINDOW
from calls.services.retention import RetentionResult, retention_prune
from calls.services.status import Retry, call_fail
from calls.services.task_queue import task_queue_after_commit
from calls.tasks import (
    create_lead_from_call,
    dispatch,
    fetch_call_price,
    hang_up_call,
    reconcile_call,
)
from webhooks.deliveries import messages_nudge

logger = logging.getLogger(__name__)

CLEANUP_LEASE = "cleanup"


def lease_take(*, name: str, seconds: int) -> str | None:
    """Takes the named lease if it is free; returns the holder token, or None."""
    now = timezone.now()
    Lease.objects.get_or_create(name=name, defaults={"held_until": now - timedelta(seconds=1)})
    holder = uuid.uuid4().hex
    # Conditional UPDATE: of two runs taking a free lease at once, one wins.
    taken = Lease.objects.filter(name=name, held_until__lt=now).update(
        held_until=now + timedelta(seconds=seconds), holder=holder
    )
    return holder if taken else None


def lease_release(*, name: str, holder: str, succeeded: bool) -> None:
    now = timezone.now()
    changes = {"held_until": now}
    if succeeded:
        changes["last_succeeded_at"] = now
    Lease.objects.filter(name=name, holder=holder).update(**changes)


@dataclass
class CleanupResult:
    failed: int = 0
    hanging_up: int = 0
    reconciling: int = 0
    dispatched: int = 0
    campaigns_finished: int = 0
    leads: int = 0
    prices: int = 0
    pruned: int = 0
    retention: RetentionResult | None = None
    webhooks: int = 0
    quarantined: int = 0
    skipped: bool = False


def cleanup_run() -> CleanupResult:
    """Every step, in order, under the cleanup lease (see calls.tasks.cleanup_orphaned_calls)."""
    # A run cannot outlive django-q2's task timeout, so a run killed holding the lease holds
    # back the next run at most, never the one after it.
    holder = lease_take(name=CLEANUP_LEASE, seconds=settings.CLEANUP_LEASE_SECONDS)
    if holder is None:
        logger.info("Cleanup skipped: another run holds the lease.")
        return CleanupResult(skipped=True)
    succeeded = False
    try:
        result = CleanupResult(
            failed=cleanup_fail_never_sent(),
            hanging_up=cleanup_retry_hang_ups(),
            reconciling=cleanup_queue_reconciles(),
            dispatched=cleanup_nudge_dispatch(),
            campaigns_finished=campaigns_finish_idle(),
            leads=cleanup_nudge_leads(),
            prices=cleanup_queue_price_fetches(),
            pruned=cleanup_prune_task_results(),
            retention=retention_prune(),
            webhooks=messages_nudge(),
            quarantined=cleanup_number_health(),
        )
        succeeded = True
    finally:
        lease_release(name=CLEANUP_LEASE, holder=holder, succeeded=succeeded)
    return result


def orphan_condition(now: datetime) -> Q:
    """Pending outbound calls with no SID, older than ORPHAN_CALL_SECONDS counted from the dial
    stamp when the create was sent, else from the row's creation."""
    cutoff = now - timedelta(seconds=settings.ORPHAN_CALL_SECONDS)
    return Q(
        status=CallLog.Status.PENDING,
        call_sid__isnull=True,
        direction=CallLog.Direction.OUTBOUND,
    ) & (
        Q(dial_started_at__isnull=True, created_at__lt=cutoff)
        | Q(dial_started_at__isnull=False, dial_started_at__lt=cutoff)
    )


def orphans(now: datetime):
    return CallLog.objects.filter(orphan_condition(now))


def cleanup_fail_never_sent() -> int:
    """Fails orphans whose create was never sent (no dial stamp); returns how many it failed.

    The UPDATE repeats the whole condition, so a callback or a dispatch that lands between the
    read and the write wins and the call is left alone.
    """
    now = timezone.now()
    never_sent = Q(dial_started_at__isnull=True) & orphan_condition(now)
    failed = 0
    for call in (
        orphans(now).filter(dial_started_at__isnull=True).order_by("created_at", "pk")[:1000]
    ):
        with transaction.atomic():
            failed += call_fail(
                call=call,
                code="never-sent",
                message=(
                    f"The call was never sent to Twilio within {settings.ORPHAN_CALL_SECONDS} s "
                    "(the worker placing it stopped); its slot was freed."
                ),
                ended_by=CallLog.EndedBy.CLEANUP,
                retry=Retry.RELEASE,
                where=never_sent,
            )
            fault_point("cleanup")
    return failed


# Nudges about one call are spaced: 1 minute, doubling with each, up to 15 minutes, so a Twilio
# outage of half an hour costs each call about six tasks, not thirty.
NUDGE_FIRST_SECONDS = 60
NUDGE_MAX_SECONDS = 900
# The lead task is nudged this many times at most; then the call says why it has no lead.
LEAD_NUDGE_LIMIT = 5


def nudge_delay(count: int) -> timedelta:
    """How long after its `count`-th nudge a call may be nudged again."""
    return timedelta(seconds=min(NUDGE_FIRST_SECONDS * 2 ** min(count, 16), NUDGE_MAX_SECONDS))


def nudge_due(now: datetime) -> Q:
    return Q(nudge_due_at__isnull=True) | Q(nudge_due_at__lte=now)


def _nudge(task, calls: list[tuple], now: datetime, key=lambda call: call[0]) -> int:
    """Queues `task` for each (pk, nudge_count, ...) and sets when it may be nudged next, by its
    own count. The UPDATE repeats the count it read, so a call nudged since is not nudged twice.
    Returns how many it queued."""
    queued = 0
    with transaction.atomic():
        for call in calls:
            pk, count = call[0], call[1]
            if CallLog.objects.filter(pk=pk, nudge_count=count).update(
                nudge_due_at=now + nudge_delay(count), nudge_count=count + 1
            ):
                task_queue_after_commit(task, key(call))
                queued += 1
    return queued


def cleanup_retry_hang_ups() -> int:
    """Asks Twilio again to hang up live calls whose hang-up it has not confirmed."""
    now = timezone.now()
    calls = CallLog.objects.filter(
        status__in=CallLog.LIVE_STATUSES,
        hang_up_requested_at__isnull=False,
        nudge_due_at__lte=now,
    )
    return _nudge(hang_up_call, list(calls.values_list("pk", "nudge_count")[:500]), now)


def cleanup_queue_reconciles() -> int:
    """Asks reconcile_call to look up sent-but-unconfirmed calls and calls gone silent, each no
    sooner than its nudge is due."""
    now = timezone.now()
    silent = CallLog.objects.filter(
        status__in=[s for s in CallLog.LIVE_STATUSES if s != CallLog.Status.PENDING],
        call_sid__isnull=False,
        updated_at__lt=now - timedelta(seconds=settings.RECONCILE_AFTER_SECONDS),
    )
    unconfirmed = orphans(now).filter(dial_started_at__isnull=False)
    calls = list(unconfirmed.filter(nudge_due(now)).values_list("pk", "nudge_count")[:500])
    calls += list(silent.filter(nudge_due(now)).values_list("pk", "nudge_count")[:500])
    return _nudge(reconcile_call, calls, now)


def cleanup_nudge_dispatch() -> int:
    """Queues a dispatch for each business with a due request and a free slot.

    Both conditions are correlated subqueries on partial indexes (due requests, live calls), so
    the cost follows the number of businesses, not the size of either table.
    """
    due = CallRequest.objects.filter(
        business=OuterRef("pk"), status=CallRequest.Status.QUEUED, next_attempt_at__lte=Now()
    )
    live = (
        CallLog.objects.filter(
            business=OuterRef("pk"),
            direction=CallLog.Direction.OUTBOUND,
            status__in=CallLog.LIVE_STATUSES,
        )
        .order_by()
        .values("business")
        .annotate(n=Count("pk"))
        .values("n")
    )
    businesses = (
        Business.objects.filter(is_active=True, paused_reason="")
        .filter(Exists(due))
        .annotate(live=Coalesce(Subquery(live), 0))
        .filter(live__lt=F("max_concurrent_calls"))
    )
    business_ids = list(businesses.values_list("pk", flat=True))
    with transaction.atomic():
        for business_id in business_ids:
            task_queue_after_commit(dispatch, business_id)
    return len(business_ids)


def cleanup_nudge_leads() -> int:
    """Queues the lead task for calls that ended in the last day and still have no lead, spaced
    like every nudge; after LEAD_NUDGE_LIMIT the call records why it has none and is left."""
    now = timezone.now()
    calls = CallLog.objects.filter(
        nudge_due(now),
        lead__isnull=True,
        no_lead_reason="",
        call_sid__isnull=False,
        ended_at__gte=now - timedelta(hours=24),
        status__in=CallLog.TERMINAL_STATUSES,
    )
    due = list(calls.values_list("pk", "nudge_count", "call_sid")[:1000])
    spent = [pk for pk, count, _ in due if count >= LEAD_NUDGE_LIMIT]
    CallLog.objects.filter(pk__in=spent, lead__isnull=True, no_lead_reason="").update(
        no_lead_reason=(
            f"The lead task did not make a lead in {LEAD_NUDGE_LIMIT} tries; see its failures "
            "in the task queue's admin."
        )
    )
    due = [call for call in due if call[1] < LEAD_NUDGE_LIMIT]
    return _nudge(create_lead_from_call, due, now, key=lambda call: call[2])


def cleanup_queue_price_fetches() -> int:
    """Queues a price fetch for outbound calls that ended PRICE_AFTER_SECONDS ago (and within a
    day) and Twilio has not priced yet, oldest first, PRICE_CHECKS_PER_RUN at most; each call no
    sooner than its last fetch's spacing (1 minute doubling to 15, by its checks so far) and no
    more than PRICE_CHECK_LIMIT times. Returns how many it queued."""
    now = timezone.now()
    calls = CallLog.objects.filter(
        Q(price_due_at__isnull=True) | Q(price_due_at__lte=now),
        price__isnull=True,
        call_sid__isnull=False,
        direction=CallLog.Direction.OUTBOUND,
        ended_at__gte=now - PRICE_CHECK_WINDOW,
        ended_at__lt=now - timedelta(seconds=settings.PRICE_AFTER_SECONDS),
        price_checks__lt=PRICE_CHECK_LIMIT,
    ).order_by("ended_at", "pk")
    due = calls.values_list("pk", "price_checks", "price_due_at")
    due = list(due[: settings.PRICE_CHECKS_PER_RUN])
    queued = 0
    with transaction.atomic():
        for pk, checks, due_at in due:
            # The UPDATE repeats the due time it read, so two runs never queue the same fetch.
            if CallLog.objects.filter(pk=pk, price_due_at=due_at).update(
                price_due_at=now + nudge_delay(checks)
            ):
                task_queue_after_commit(fetch_call_price, pk)
                queued += 1
    return queued


NUMBER_HEALTH_LEASE = "number-health"


def cleanup_number_health() -> int:
    """Judges the caller numbers' health (number_health) at most every
    NUMBER_HEALTH_EVERY_SECONDS: a lease taken and left to run out spaces the runs, on every
    host. Returns how many numbers it quarantined."""
    if lease_take(name=NUMBER_HEALTH_LEASE, seconds=settings.NUMBER_HEALTH_EVERY_SECONDS) is None:
        return 0
    report = numbers_health_run()
    return sum(
        each.verdict.startswith("quarantined now") for health in report for each in health.numbers
    )


def cleanup_prune_task_results() -> int:
    """Deletes django-q2's results older than a week (it never prunes failures itself)."""
    from django_q.models import Task

    deleted, _ = Task.objects.filter(stopped__lt=timezone.now() - timedelta(days=7)).delete()
    return deleted

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
from calls.services.status import Retry, call_fail
from calls.services.task_queue import task_queue_after_commit
from calls.tasks import create_lead_from_call, dispatch, reconcile_call

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
    reconciling: int = 0
    dispatched: int = 0
    leads: int = 0
    pruned: int = 0
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
            reconciling=cleanup_queue_reconciles(),
            dispatched=cleanup_nudge_dispatch(),
            leads=cleanup_nudge_leads(),
            pruned=cleanup_prune_task_results(),
        )
        succeeded = True
    finally:
        lease_release(name=CLEANUP_LEASE, holder=holder, succeeded=succeeded)
    return result


def orphans(now: datetime):
    """Pending outbound calls with no SID, older than ORPHAN_CALL_SECONDS counted from the dial
    stamp when the create was sent, else from the row's creation."""
    cutoff = now - timedelta(seconds=settings.ORPHAN_CALL_SECONDS)
    return CallLog.objects.filter(
        status=CallLog.Status.PENDING, call_sid__isnull=True, direction=CallLog.Direction.OUTBOUND
    ).filter(
        Q(dial_started_at__isnull=True, created_at__lt=cutoff)
        | Q(dial_started_at__isnull=False, dial_started_at__lt=cutoff)
    )


def cleanup_fail_never_sent() -> int:
    """Fails orphans whose create was never sent (no dial stamp); returns how many it failed.

    Each UPDATE repeats the whole condition, so a callback that lands between the read and the
    write wins and the call is left alone.
    """
    now = timezone.now()
    never_sent = orphans(now).filter(dial_started_at__isnull=True)
    failed = 0
    for call in never_sent.order_by("created_at")[:1000]:
        with transaction.atomic():
            if not orphans(now).filter(pk=call.pk, dial_started_at__isnull=True).exists():
                continue
            failed += call_fail(
                call=call,
                code="never-sent",
                message=(
                    f"The call was never sent to Twilio within {settings.ORPHAN_CALL_SECONDS} s "
                    "(the worker placing it stopped); its slot was freed."
                ),
                ended_by=CallLog.EndedBy.CLEANUP,
                retry=Retry.RELEASE,
            )
            fault_point("cleanup")
    return failed


def cleanup_queue_reconciles() -> int:
    """Asks reconcile_call to look up sent-but-unconfirmed calls and calls gone silent."""
    now = timezone.now()
    silent = CallLog.objects.filter(
        status__in=CallLog.LIVE_STATUSES,
        call_sid__isnull=False,
        updated_at__lt=now - timedelta(seconds=settings.RECONCILE_AFTER_SECONDS),
    )
    unconfirmed = orphans(now).filter(dial_started_at__isnull=False)
    call_ids = list(unconfirmed.values_list("pk", flat=True)[:500])
    call_ids += list(silent.values_list("pk", flat=True)[:500])
    with transaction.atomic():
        for call_id in call_ids:
            task_queue_after_commit(reconcile_call, call_id)
    return len(call_ids)


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
    """Queues the lead task for calls that ended in the last day and still have no lead."""
    calls = CallLog.objects.filter(
        lead__isnull=True,
        call_sid__isnull=False,
        ended_at__gte=timezone.now() - timedelta(hours=24),
        status__in=CallLog.TERMINAL_STATUSES,
    )
    sids = list(calls.values_list("call_sid", flat=True)[:1000])
    with transaction.atomic():
        for sid in sids:
            task_queue_after_commit(create_lead_from_call, sid)
    return len(sids)


def cleanup_prune_task_results() -> int:
    """Deletes django-q2's results older than a week (it never prunes failures itself)."""
    from django_q.models import Task

    deleted, _ = Task.objects.filter(stopped__lt=timezone.now() - timedelta(days=7)).delete()
    return deleted

"""Keeping data only as long as it is needed: the raw parameters of callbacks (numbers, caller
names, locations) for CALLBACK_PARAMS_RETENTION_DAYS, ended calls and closed requests for
CALL_RETENTION_DAYS, the stored answers of idempotent API POSTs (numbers, metadata) for
API_IDEMPOTENCY_HOURS. The cleanup runs `retention_prune` every minute; each step touches at most
RETENTION_BATCH rows, so a first run over years of history spreads over many minutes instead of
holding one long transaction."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from api.models import IdempotencyRecord
from calls.models import CallEvent, CallLog, CallRequest

logger = logging.getLogger(__name__)


@dataclass
class RetentionResult:
    params: int = 0
    calls: int = 0
    requests: int = 0
    idempotency: int = 0


def retention_prune() -> RetentionResult:
    """Each step once, in bounded batches; a setting of 0 days keeps that data for good."""
    return RetentionResult(
        params=callback_params_prune(),
        calls=calls_prune(),
        requests=requests_prune(),
        idempotency=idempotency_records_prune(),
    )


def _cutoff(days: int):
    return timezone.now() - timedelta(days=days) if days > 0 else None


def callback_params_prune() -> int:
    """Drops the raw parameters of callbacks older than CALLBACK_PARAMS_RETENTION_DAYS; the
    event itself (status, sequence, SIP code, when) stays with its call."""
    cutoff = _cutoff(settings.CALLBACK_PARAMS_RETENTION_DAYS)
    if cutoff is None:
        return 0
    old = CallEvent.objects.filter(params__isnull=False, received_at__lt=cutoff)
    ids = list(old.order_by("received_at").values_list("pk", flat=True)[: settings.RETENTION_BATCH])
    return CallEvent.objects.filter(pk__in=ids).update(params=None)


def calls_prune() -> int:
    """Deletes calls that ended more than CALL_RETENTION_DAYS ago, with their events."""
    cutoff = _cutoff(settings.CALL_RETENTION_DAYS)
    if cutoff is None:
        return 0
    old = CallLog.objects.filter(ended_at__isnull=False, ended_at__lt=cutoff)
    ids = list(old.order_by("ended_at").values_list("pk", flat=True)[: settings.RETENTION_BATCH])
    with transaction.atomic():
        CallEvent.objects.filter(call_id__in=ids).delete()
        deleted, _ = CallLog.objects.filter(pk__in=ids).delete()
    return deleted


def requests_prune() -> int:
    """Deletes requests closed more than CALL_RETENTION_DAYS ago (calls still pointing at one
    lose the link, not themselves)."""
    cutoff = _cutoff(settings.CALL_RETENTION_DAYS)
    if cutoff is None:
        return 0
    old = CallRequest.objects.filter(status__in=CallRequest.CLOSED_STATUSES, updated_at__lt=cutoff)
    ids = list(old.order_by("updated_at").values_list("pk", flat=True)[: settings.RETENTION_BATCH])
    with transaction.atomic():
        CallLog.objects.filter(request_id__in=ids).update(request=None)
        deleted = CallRequest.objects.filter(pk__in=ids).delete()[1].get("calls.CallRequest", 0)
    return deleted


def idempotency_records_prune() -> int:
    """Deletes the stored answers of idempotent POSTs older than API_IDEMPOTENCY_HOURS: past it
    a retry acts anew anyway, and an answer holds the number and the client's metadata."""
    cutoff = timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_HOURS)
    old = IdempotencyRecord.objects.filter(created_at__lt=cutoff).order_by("created_at")
    ids = list(old.values_list("pk", flat=True)[: settings.RETENTION_BATCH])
    deleted, _ = IdempotencyRecord.objects.filter(pk__in=ids).delete()
    return deleted

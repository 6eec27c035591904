"""Delivering a message: claim it, POST it signed, record the attempt, and schedule the retry
or give up; redelivery; the cleanup's nudge for messages whose retry was lost.

Deliveries run in the webhooks' own django-q2 cluster (settings.WEBHOOK_CLUSTER; the worker
command starts it beside dialing's), so a slow receiver never holds a worker dialing needs.
Retries are django-q2 schedules of their own: a ONCE schedule per message (`webhook:<id>`,
replaced at each failure, deleted once it fired) due at the message's `next_attempt_at`, with
that cluster's name, so only its scheduler fires it, onto its queue. The scheduler looks every
30 s, so a retry leaves at most 30 s after it is due: the first retry
(due 5 s after the failure) within about 35 s, where a sweep on the per-minute cleanup would
take up to 90 s. The database stays the truth: the cleanup nudges any message overdue by a
minute (a schedule or a task lost with Redis, a worker killed mid-delivery).
"""

import json
import logging
import random
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.models import Schedule

from calls.services.operator_actions import ActionResult
from calls.services.task_queue import task_queue_after_commit
from webhooks import sending
from webhooks.models import WebhookAttempt, WebhookMessage
from webhooks.signing import webhook_headers
from webhooks.tasks import webhook_deliver

logger = logging.getLogger(__name__)

# After the 1st, 2nd, ... failed attempt; the last repeats until the message is given up.
RETRY_DELAYS_SECONDS = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800)
NUDGE_AFTER_SECONDS = 60
NUDGE_LIMIT = 100
SCHEDULE_PREFIX = "webhook:"


def retry_delay(attempts: int) -> timedelta:
    """The wait after `attempts` failed attempts, ±20 % so retries after an outage spread out."""
    base = RETRY_DELAYS_SECONDS[min(attempts, len(RETRY_DELAYS_SECONDS)) - 1]
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


def claim_seconds() -> int:
    # Past the task timeout: a delivery the cluster killed cannot still be sending when the
    # claim ends and another delivery takes the message.
    return settings.Q_CLUSTER["ALT_CLUSTERS"][settings.WEBHOOK_CLUSTER]["timeout"] + 5


def delivery_queue(message_id: int) -> None:
    """Queues a delivery of the message once the transaction commits, on the webhooks' own
    cluster: a slow receiver must never hold a worker that dialing needs."""
    task_queue_after_commit(webhook_deliver, message_id, cluster=settings.WEBHOOK_CLUSTER)


def unclaimed(now) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def message_deliver(*, message_id: int) -> str:
    """One attempt, if the message is due and unclaimed; returns what became of it."""
    now = timezone.now()
    claimed_until = now + timedelta(seconds=claim_seconds())
    # The claim: of two deliveries racing for one message, only one UPDATE hits the row.
    claimed = (
        WebhookMessage.objects.filter(pk=message_id, next_attempt_at__lte=now)
        .filter(unclaimed(now))
        .update(claimed_until=claimed_until)
    )
    if not claimed:
        return "not due"
    message = WebhookMessage.objects.select_related("business").get(pk=message_id)
    if now > message.retry_until:
        # Past its day without a recorded end (its deliveries kept dying): given up unsent.
        WebhookMessage.objects.filter(pk=message.pk, claimed_until=claimed_until).update(
            claimed_until=None, next_attempt_at=None, given_up_at=now
        )
        return "given up"
    at = timezone.now()
    try:
        result = _send(message, at)
    except Exception as error:
        # Recorded like any failed attempt, so the message is retried and, in the end, given up.
        logger.exception("Webhook %s could not be sent", message.webhook_id)
        result = sending.DeliveryResult(None, f"{type(error).__name__}: {error}", 0)
    return attempt_record(message=message, claimed_until=claimed_until, at=at, result=result)


def _send(message, at) -> sending.DeliveryResult:
    business = message.business
    if not business.webhook_url or not business.webhook_secret:
        return sending.DeliveryResult(None, "The business has no webhook URL.", 0)
    body = json.dumps(message.payload, separators=(",", ":"), ensure_ascii=False)
    headers = webhook_headers(
        secret=business.webhook_secret, webhook_id=message.webhook_id, body=body, at=at
    )
    return sending.webhook_post(url=business.webhook_url, body=body.encode(), headers=headers)


def attempt_record(*, message, claimed_until, at, result) -> str:
    now = timezone.now()
    attempts = message.attempts + 1
    # Only while the claim is still this delivery's own (a delivery that outlived it changes
    # nothing but its attempt row).
    mine = WebhookMessage.objects.filter(pk=message.pk, claimed_until=claimed_until)
    with transaction.atomic():
        WebhookAttempt.objects.create(
            message=message,
            at=at,
            status_code=result.status_code,
            error=result.error[: sending.ERROR_MAX_CHARS],
            duration_ms=result.duration_ms,
        )
        done = {"claimed_until": None, "attempts": attempts, "next_attempt_at": None}
        if result.delivered:
            mine.update(delivered_at=now, **done)
            return "delivered"
        next_attempt_at = now + retry_delay(attempts)
        if next_attempt_at > message.retry_until:
            mine.update(given_up_at=now, **done)
            logger.warning("Webhook %s given up after %s attempts", message.webhook_id, attempts)
            return "given up"
        if mine.update(**{**done, "next_attempt_at": next_attempt_at}):
            retry_schedule(message_id=message.pk, at=next_attempt_at)
        return "retrying"


def retry_schedule(*, message_id: int, at) -> None:
    """A ONCE schedule for the message's next attempt; django-q2 deletes it once it fired.
    Schedule.name is not unique: update_or_create keeps one row per message."""
    Schedule.objects.update_or_create(
        name=f"{SCHEDULE_PREFIX}{message_id}",
        defaults={
            "func": "webhooks.tasks.webhook_deliver",
            "args": f"({message_id},)",
            "schedule_type": Schedule.ONCE,
            "repeats": -1,
            "next_run": at,
            "cluster": settings.WEBHOOK_CLUSTER,  # fired by that cluster's scheduler alone
        },
    )


def messages_redeliver(*, message_ids) -> ActionResult:
    """Delivers messages again, with the same webhook-id and a new day of retries; a message a
    delivery holds right now is left alone (ask again in a minute)."""
    now = timezone.now()
    result = ActionResult()
    message_ids = list(message_ids)
    rows = WebhookMessage.objects.filter(pk__in=message_ids)
    ready = list(rows.filter(unclaimed(now)).values_list("pk", flat=True))
    if len(ready) < len(message_ids):
        result.unchanged["were being delivered right now"] += len(message_ids) - len(ready)
    result.changed = (
        WebhookMessage.objects.filter(pk__in=ready)
        .filter(unclaimed(now))
        .update(
            next_attempt_at=now,
            retry_until=now + timedelta(hours=settings.WEBHOOK_GIVE_UP_HOURS),
            attempts=0,
            delivered_at=None,
            given_up_at=None,
        )
    )
    for pk in ready:
        delivery_queue(pk)
    return result


def messages_nudge() -> int:
    """The cleanup's step: a delivery for messages overdue by a minute and unclaimed."""
    now = timezone.now()
    overdue = (
        WebhookMessage.objects.filter(
            next_attempt_at__lt=now - timedelta(seconds=NUDGE_AFTER_SECONDS)
        )
        .filter(unclaimed(now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:NUDGE_LIMIT]
    )
    ids = list(overdue)
    for pk in ids:
        delivery_queue(pk)
    return len(ids)

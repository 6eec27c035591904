"""A message per settled request, stored in the transaction that settled it and queued on
commit. Nothing here talks to the network: a Twilio callback may be the caller."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone

from calls.models import CallLog, CallRequest
from webhooks.deliveries import delivery_queue
from webhooks.models import WebhookMessage

# A bulk settling (a campaign of thousands canceled) queues this many deliveries at once; the
# cleanup's nudge picks up the rest, a minute later.
QUEUE_AT_ONCE = 100


def _time(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


def call_payload(call: CallLog) -> dict:
    return {
        "sid": call.call_sid,
        "status": call.status,
        "duration": call.duration_seconds,
        "answered_by": call.answered_by or None,
        "started_at": _time(call.dial_started_at),
        "answered_at": _time(call.answered_at),
        "ended_at": _time(call.ended_at),
    }


def settled_payload(request: CallRequest, now) -> dict:
    data = {
        "id": request.pk,
        "status": request.status,
        "attempts": request.attempts,
        "reason": request.last_error,
        "campaign": request.campaign_id,
    }
    data["metadata"] = request.metadata
    data["calls"] = [call_payload(call) for call in request.calls.all() if call.call_sid]
    return {"type": WebhookMessage.Type.CALL_REQUEST_SETTLED, "timestamp": _time(now), "data": data}


def requests_settled_announce(*, request_ids: list[int]) -> list[int]:
    """Stores one message per settled request of a business with a webhook URL; returns their
    ids. Called by `calls.signals.requests_settled`, in the transaction that settled them."""
    calls = CallLog.objects.order_by("created_at", "pk")
    requests = (
        CallRequest.objects.filter(pk__in=request_ids)
        .exclude(business__webhook_url="")
        .prefetch_related(Prefetch("calls", queryset=calls))
        .order_by("pk")
    )
    now = timezone.now()
    retry_until = now + timedelta(hours=settings.WEBHOOK_GIVE_UP_HOURS)
    messages = WebhookMessage.objects.bulk_create(
        WebhookMessage(
            business_id=request.business_id,
            request=request,
            type=WebhookMessage.Type.CALL_REQUEST_SETTLED,
            payload=settled_payload(request, now),
            next_attempt_at=now,
            retry_until=retry_until,
        )
        for request in requests
    )
    for message in messages[:QUEUE_AT_ONCE]:
        delivery_queue(message.pk)
    return [message.pk for message in messages]

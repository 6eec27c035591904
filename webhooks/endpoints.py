"""A business's endpoint: rotating its secret, and whether it is failing."""

from django.db.models import Max

from calls.models import Business
from calls.services.operator_actions import ActionResult
from webhooks.models import WebhookMessage
from webhooks.signing import webhook_secret_generate


def webhook_secrets_rotate(*, business_ids) -> ActionResult:
    """A new secret for each business; deliveries from now on are signed with it (a retry of an
    older message too, since every attempt is signed when it is sent)."""
    result = ActionResult()
    for pk in list(business_ids):
        result.changed += Business.objects.filter(pk=pk).update(
            webhook_secret=webhook_secret_generate()
        )
    return result


def failing_business_ids(business_ids) -> set[int]:
    """Businesses whose latest finished message was given up (its endpoint failed for a day):
    a later delivery, or a redelivery that got through, clears it. One grouped query over the
    two partial indexes."""
    latest = (
        WebhookMessage.objects.filter(business_id__in=list(business_ids))
        .exclude(given_up_at=None, delivered_at=None)
        .values("business_id")
        .annotate(given_up=Max("given_up_at"), delivered=Max("delivered_at"))
    )
    return {
        row["business_id"]
        for row in latest
        if row["given_up"] and (row["delivered"] is None or row["given_up"] > row["delivered"])
    }

import uuid

from django.db import models
from django.db.models import Q

from calls.models import Business, CallRequest


def webhook_id_new() -> str:
    return f"msg_{uuid.uuid4().hex}"


class WebhookMessage(models.Model):
    """One event for a business's endpoint, delivered until it answers 2xx or a day has passed.

    Its `webhook_id` is the same on every attempt and every redelivery, so a receiver can drop
    a message it already handled.
    """

    class Type(models.TextChoices):
        CALL_REQUEST_SETTLED = "call_request.settled"

    webhook_id = models.CharField(
        max_length=64, unique=True, default=webhook_id_new, editable=False
    )
    business = models.ForeignKey(
        Business, on_delete=models.PROTECT, related_name="webhook_messages"
    )
    # Retention deletes closed requests; their messages go with them.
    request = models.ForeignKey(
        CallRequest,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_messages",
    )
    type = models.CharField(max_length=40, choices=Type)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    # When the next attempt is due; NULL once delivered or given up.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Given up when the next attempt would fall after this (a day after creation or redelivery).
    retry_until = models.DateTimeField()
    # A delivery in progress holds the message until then (past the task timeout), so two
    # deliveries of one message never both send; a worker that died lets it go by itself.
    claimed_until = models.DateTimeField(null=True, blank=True)
    # Attempts since it was created or last redelivered (each one is a WebhookAttempt row).
    attempts = models.PositiveSmallIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    given_up_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The cleanup's nudge for due messages whose own schedule was lost.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(next_attempt_at__isnull=False),
                name="webhook_due_idx",
            ),
            # The dashboard: a business's latest given-up and delivered messages.
            models.Index(
                fields=["business", "given_up_at"],
                condition=Q(given_up_at__isnull=False),
                name="webhook_given_up_idx",
            ),
            models.Index(
                fields=["business", "delivered_at"],
                condition=Q(delivered_at__isnull=False),
                name="webhook_delivered_idx",
            ),
        ]

    def __str__(self):
        return f"{self.type} {self.webhook_id}"

    @property
    def state(self) -> str:
        if self.delivered_at:
            return "delivered"
        if self.given_up_at:
            return "given up"
        return "retrying" if self.attempts else "pending"


class WebhookAttempt(models.Model):
    """One POST of a message: what the endpoint answered, or why there was no answer."""

    message = models.ForeignKey(
        WebhookMessage, on_delete=models.CASCADE, related_name="attempt_rows"
    )
    at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error[:40]}"

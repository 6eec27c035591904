"""Webhook messages and their attempts: read only, scoped to the user's businesses like every
admin of this service; operators redeliver a message with an action."""

import json

from django.contrib import admin
from django.utils.html import format_html

from calls.admin.scoping import ScopedAdmin, ScopedInline, role_action
from calls.tenancy import Role
from webhooks.deliveries import messages_redeliver
from webhooks.models import WebhookAttempt, WebhookMessage


class WebhookAttemptInline(ScopedInline):
    model = WebhookAttempt
    fields = ["at", "status_code", "error", "duration_ms"]
    readonly_fields = fields


@admin.register(WebhookMessage)
class WebhookMessageAdmin(ScopedAdmin):
    list_display = [
        "created_at",
        "business",
        "type",
        "request",
        "state",
        "attempts",
        "next_attempt_at",
        "webhook_id",
    ]
    list_filter = ["type", "business"]
    list_select_related = ["business", "request"]
    search_fields = ["webhook_id"]
    date_hierarchy = "created_at"
    fields = [
        "webhook_id",
        "business",
        "request",
        "type",
        "state",
        "created_at",
        "attempts",
        "next_attempt_at",
        "retry_until",
        "delivered_at",
        "given_up_at",
        "payload_shown",
        "operator_actions",
    ]
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]

    @admin.display(description="state")
    def state(self, message):
        return message.state

    @admin.display(description="payload")
    def payload_shown(self, message):
        return format_html("<pre>{}</pre>", json.dumps(message.payload, indent=2))

    @role_action(
        role=Role.OPERATOR,
        description="Redeliver (same webhook-id, a new day of retries)",
        noun="message",
        verb="queued for delivery",
    )
    def redeliver(self, request, queryset):
        return messages_redeliver(message_ids=queryset.values_list("pk", flat=True))

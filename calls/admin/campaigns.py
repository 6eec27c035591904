"""Campaigns: managers write their scripts (raw TwiML is for superusers), operators steer them."""

from django.contrib import admin
from django.db import models
from django.db.models import Count, Q

from calls.admin.scoping import ScopedAdmin, role_action
from calls.models import CallRequest, Campaign
from calls.services import operator_actions
from calls.tenancy import Role


@admin.register(Campaign)
class CampaignAdmin(ScopedAdmin):
    add_role = change_role = delete_role = Role.MANAGER
    superuser_only_fields = ("raw_twiml",)
    readonly_on_change = ("business",)
    list_display = ["name", "business", "status", "progress", "concurrency", "created_at"]
    list_filter = ["status", "business"]
    search_fields = ["name"]
    list_select_related = ["business"]
    autocomplete_fields = ["business"]
    # A recording is fetched by Twilio over https only (the allowlist refuses http).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    readonly_fields = ["status", "progress", "created_at", "ended_at", "operator_actions"]
    fieldsets = [
        (None, {"fields": ["business", "name", "status", "concurrency", "progress"]}),
        (
            "Script (what the callee hears)",
            {"fields": ["recording_url", "say_text", "voice", "language", "raw_twiml"]},
        ),
        ("History", {"fields": ["created_at", "ended_at", "operator_actions"]}),
    ]
    actions = ["pause", "resume", "stop", "cancel", "cancel_and_hang_up"]

    def get_queryset(self, request):
        by_status = {
            f"n_{s}": Count("requests", filter=Q(requests__status=s))
            for s in CallRequest.Status.values
        }
        return super().get_queryset(request).annotate(**by_status)

    @admin.display(description="progress (counted from its requests)")
    def progress(self, campaign):
        counts = {s: getattr(campaign, f"n_{s}", 0) for s in CallRequest.Status.values}
        total = sum(counts.values())
        settled = total - counts["queued"] - counts["active"]
        detail = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        return f"{settled}/{total} settled" + (f" ({detail})" if detail else "")

    def _set(self, request, queryset, status, hang_up=False):
        return operator_actions.campaigns_set_status(
            campaign_ids=queryset.values_list("pk", flat=True),
            status=status,
            hang_up=hang_up,
            actor=request.user,
        )

    @role_action(
        role=Role.OPERATOR,
        description="Pause (no new dials; retries stay)",
        noun="campaign",
        verb="set to paused",
    )
    def pause(self, request, queryset):
        return self._set(request, queryset, Campaign.Status.PAUSED)

    @role_action(
        role=Role.OPERATOR,
        description="Resume",
        noun="campaign",
        verb="set to running",
        confirm="Resume {rows}: their queued calls are dialed from now on.",
    )
    def resume(self, request, queryset):
        return self._set(request, queryset, Campaign.Status.RUNNING)

    @role_action(
        role=Role.OPERATOR,
        description="Stop (no new dials; ends when its live calls end)",
        noun="campaign",
        verb="set to stopping",
    )
    def stop(self, request, queryset):
        return self._set(request, queryset, Campaign.Status.STOPPING)

    @role_action(
        role=Role.OPERATOR,
        description="Cancel (queued requests are canceled)",
        noun="campaign",
        verb="set to canceled",
        confirm=("Cancel {rows} for good: their queued calls are canceled and never dialed."),
    )
    def cancel(self, request, queryset):
        return self._set(request, queryset, Campaign.Status.CANCELED)

    @role_action(
        role=Role.OPERATOR,
        description="Cancel and hang up live calls",
        noun="campaign",
        verb="set to canceled",
        confirm=(
            "Cancel {rows} for good and hang up their live calls now: queued calls "
            "are canceled and the people on live ones are cut off."
        ),
    )
    def cancel_and_hang_up(self, request, queryset):
        return self._set(request, queryset, Campaign.Status.CANCELED, hang_up=True)

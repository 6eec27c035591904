from django.contrib import admin
from django.db.models import Count, Q

from calls.models import Business, CallEvent, CallLog, CallRequest, Campaign, DialingControl
from calls.services import operator_actions
from calls.services.pauses import dialing_set


@admin.register(Business)
class BusinessAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "phone_number",
        "max_concurrent_calls",
        "live_calls",
        "is_active",
        "paused_reason",
    ]
    list_filter = ["is_active"]
    search_fields = ["name", "phone_number"]
    actions = ["resume"]

    def get_queryset(self, request):
        live = Q(calls__status__in=CallLog.LIVE_STATUSES, calls__direction="outbound")
        return super().get_queryset(request).annotate(live=Count("calls", filter=live))

    @admin.display(ordering="live")
    def live_calls(self, business):
        return business.live

    @admin.action(description="Resume dialing (clear the pause Twilio caused)")
    def resume(self, request, queryset):
        ids = queryset.values_list("pk", flat=True)
        result = operator_actions.businesses_resume(business_ids=ids)
        self.message_user(request, result.summary("business", "resumed"))


@admin.register(DialingControl)
class DialingControlAdmin(admin.ModelAdmin):
    list_display = ["__str__", "reason", "updated_at"]

    def has_add_permission(self, request):
        return not DialingControl.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        dialing_set(paused=obj.paused, reason=obj.reason)


class CallEventInline(admin.TabularInline):
    model = CallEvent
    extra = 0
    can_delete = False
    fields = ["received_at", "source", "status", "sequence_number", "sip_response_code", "applied"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class HasErrorFilter(admin.SimpleListFilter):
    title = "error"
    parameter_name = "has_error"

    def lookups(self, request, model_admin):
        return [("yes", "Has an error"), ("no", "No error")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(error_code="")
        if self.value() == "no":
            return queryset.filter(error_code="")
        return queryset


@admin.register(CallLog)
class CallLogAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "business",
        "direction",
        "from_number",
        "to_number",
        "status",
        "duration_seconds",
        "error_code",
        "ended_by",
    ]
    list_filter = ["status", "direction", "business", HasErrorFilter, "ended_by"]
    search_fields = ["call_sid", "from_number", "to_number"]
    date_hierarchy = "created_at"
    list_select_related = ["business"]
    # What Twilio reports is not for an operator to edit.
    readonly_fields = [
        "public_id",
        "call_sid",
        "business",
        "request",
        "direction",
        "from_number",
        "to_number",
        "status",
        "last_sequence_number",
        "dial_started_at",
        "duration_seconds",
        "answered_by",
        "error_code",
        "error_message",
        "sip_response_code",
        "ended_by",
        "hang_up_requested_at",
        "nudge_due_at",
        "nudge_count",
        "unlisted_since",
        "no_lead_reason",
        "created_at",
        "updated_at",
        "answered_at",
        "ended_at",
    ]
    raw_id_fields = ["lead"]
    inlines = [CallEventInline]
    actions = ["hang_up", "retry_now", "reconcile"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Hang up selected live calls")
    def hang_up(self, request, queryset):
        result = operator_actions.calls_hang_up(call_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, result.summary("call", "queued to hang up"))

    @admin.action(description="Retry now (dial the number again)")
    def retry_now(self, request, queryset):
        request_ids = set(queryset.exclude(request=None).values_list("request_id", flat=True))
        result = operator_actions.requests_retry_now(request_ids=request_ids)
        inbound = queryset.filter(request=None).count()
        if inbound:
            result.unchanged["had no request to retry (inbound or manual calls)"] += inbound
        self.message_user(request, result.summary("request", "queued to dial now"))

    @admin.action(description="Reconcile with Twilio")
    def reconcile(self, request, queryset):
        result = operator_actions.calls_reconcile(call_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, result.summary("call", "queued to reconcile"))


class CallLogInline(admin.TabularInline):
    model = CallLog
    extra = 0
    can_delete = False
    fields = ["created_at", "direction", "call_sid", "status", "duration_seconds", "error_code"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CallRequest)
class CallRequestAdmin(admin.ModelAdmin):
    list_display = [
        "to_number",
        "business",
        "campaign",
        "status",
        "attempts",
        "max_attempts",
        "next_attempt_at",
        "last_error",
    ]
    list_filter = ["status", "business", "campaign"]
    search_fields = ["to_number"]
    raw_id_fields = ["lead"]
    readonly_fields = [
        "business",
        "campaign",
        "to_number",
        "status",
        "attempts",
        "throttled_count",
        "created_at",
    ]
    inlines = [CallLogInline]
    actions = ["retry_now"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Retry now")
    def retry_now(self, request, queryset):
        ids = queryset.values_list("pk", flat=True)
        result = operator_actions.requests_retry_now(request_ids=ids)
        self.message_user(request, result.summary("request", "queued to dial now"))


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "business", "status", "progress", "concurrency", "created_at"]
    list_filter = ["status", "business"]
    search_fields = ["name"]
    readonly_fields = ["status", "progress", "created_at", "ended_at"]
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
        result = operator_actions.campaigns_set_status(
            campaign_ids=queryset.values_list("pk", flat=True), status=status, hang_up=hang_up
        )
        self.message_user(request, result.summary("campaign", f"set to {status}"))

    @admin.action(description="Pause (no new dials; retries stay)")
    def pause(self, request, queryset):
        self._set(request, queryset, Campaign.Status.PAUSED)

    @admin.action(description="Resume")
    def resume(self, request, queryset):
        self._set(request, queryset, Campaign.Status.RUNNING)

    @admin.action(description="Stop (no new dials; ends when its live calls end)")
    def stop(self, request, queryset):
        self._set(request, queryset, Campaign.Status.STOPPING)

    @admin.action(description="Cancel (queued requests are canceled)")
    def cancel(self, request, queryset):
        self._set(request, queryset, Campaign.Status.CANCELED)

    @admin.action(description="Cancel and hang up live calls")
    def cancel_and_hang_up(self, request, queryset):
        self._set(request, queryset, Campaign.Status.CANCELED, hang_up=True)

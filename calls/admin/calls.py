"""Calls, their callback events and requests: audit rows, read only for everyone; operators act
on them through actions."""

from django.contrib import admin

from calls.admin.scoping import ScopedAdmin, ScopedInline, role_action
from calls.models import CallEvent, CallLog, CallRequest
from calls.services import operator_actions
from calls.tenancy import Role


class CallEventInline(ScopedInline):
    model = CallEvent
    fields = ["received_at", "source", "status", "sequence_number", "sip_response_code", "applied"]
    readonly_fields = fields


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


def ended_by_whom(call: CallLog) -> str:
    if call.ended_by == CallLog.EndedBy.OPERATOR and call.hang_up_requested_by_id:
        return f"Operator ({call.hang_up_requested_by.get_username()})"
    return call.get_ended_by_display()


@admin.register(CallLog)
class CallLogAdmin(ScopedAdmin):
    list_display = [
        "created_at",
        "business",
        "direction",
        "from_number",
        "to_number",
        "status",
        "duration_seconds",
        "error_code",
        "ended",
    ]
    list_filter = ["status", "direction", "business", HasErrorFilter, "ended_by"]
    search_fields = ["call_sid", "from_number", "to_number"]
    date_hierarchy = "created_at"
    list_select_related = ["business", "hang_up_requested_by"]
    # What Twilio reports is not for anyone to edit.
    fields = readonly_fields = [
        "public_id",
        "call_sid",
        "business",
        "lead",
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
        "ended",
        "hang_up_requested_at",
        "nudge_due_at",
        "nudge_count",
        "unlisted_since",
        "no_lead_reason",
        "created_at",
        "updated_at",
        "answered_at",
        "ended_at",
        "operator_actions",
    ]
    inlines = [CallEventInline]
    actions = ["hang_up", "retry_now", "reconcile"]

    @admin.display(description="ended by", ordering="ended_by")
    def ended(self, call):
        return ended_by_whom(call)

    @role_action(
        role=Role.OPERATOR,
        description="Hang up selected live calls",
        noun="call",
        verb="queued to hang up",
        confirm="Hang up {rows}: the people on them are cut off now.",
    )
    def hang_up(self, request, queryset):
        ids = queryset.values_list("pk", flat=True)
        return operator_actions.calls_hang_up(call_ids=ids, actor=request.user)

    @role_action(
        role=Role.OPERATOR,
        description="Retry now (dial the number again)",
        noun="request",
        verb="queued to dial now",
        confirm="Dial again the numbers of {rows}, now.",
        row_noun="call",
    )
    def retry_now(self, request, queryset):
        request_ids = set(queryset.exclude(request=None).values_list("request_id", flat=True))
        result = operator_actions.requests_retry_now(request_ids=request_ids)
        inbound = queryset.filter(request=None).count()
        if inbound:
            result.unchanged["had no request to retry (inbound or manual calls)"] += inbound
        return result

    @role_action(
        role=Role.OPERATOR,
        description="Reconcile with Twilio",
        noun="call",
        verb="queued to reconcile",
    )
    def reconcile(self, request, queryset):
        return operator_actions.calls_reconcile(call_ids=queryset.values_list("pk", flat=True))


class CallLogInline(ScopedInline):
    model = CallLog
    fields = ["created_at", "direction", "call_sid", "status", "duration_seconds", "error_code"]
    readonly_fields = fields
    show_change_link = True


@admin.register(CallRequest)
class CallRequestAdmin(ScopedAdmin):
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
    list_select_related = ["business", "campaign"]
    fields = readonly_fields = [
        "business",
        "campaign",
        "lead",
        "to_number",
        "status",
        "attempts",
        "max_attempts",
        "throttled_count",
        "next_attempt_at",
        "last_error",
        "created_at",
        "updated_at",
        "operator_actions",
    ]
    inlines = [CallLogInline]
    actions = ["retry_now"]

    @role_action(
        role=Role.OPERATOR,
        description="Retry now",
        noun="request",
        verb="queued to dial now",
        confirm="Dial the numbers of {rows} now.",
    )
    def retry_now(self, request, queryset):
        ids = queryset.values_list("pk", flat=True)
        return operator_actions.requests_retry_now(request_ids=ids)

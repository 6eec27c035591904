"""Calls, their callback events and requests: audit rows, read only for everyone; operators act
on them through actions."""

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from calls.admin.exports import CsvExport
from calls.admin.scoping import ScopedAdmin, ScopedInline, role_action, user_may
from calls.admin.search import NumberSearch
from calls.counts import DEFINITIONS, with_count_flags
from calls.models import CallEvent, CallLog, CallRequest, Campaign
from calls.outcomes import ERROR_STATUSES, outcome_reason
from calls.services import operator_actions
from calls.services.erasure import ERASED
from calls.tenancy import Role, scoped
from calls.timeline import call_timeline
from compliance.consent import request_consent_summary


def _moment(at) -> str:
    if at is None:
        return "(time not recorded)"
    # Milliseconds: Twilio's reports about one call often arrive within the same second.
    local = timezone.localtime(at)
    return f"{local:%Y-%m-%d %H:%M:%S}.{local.microsecond // 1000:03d} {local.tzname()}"


class CallEventInline(ScopedInline):
    """Every report about the call with its raw parameters: internals, folded (the page's
    timeline tells the same story in words)."""

    model = CallEvent
    verbose_name_plural = "callbacks and reconciles, with Twilio's raw parameters"
    classes = ["collapse"]
    fields = [
        "received_at",
        "source",
        "status",
        "sequence_number",
        "sip_response_code",
        "applied",
        "params",
    ]
    readonly_fields = fields


class HasErrorFilter(admin.SimpleListFilter):
    title = "error"
    parameter_name = "has_error"

    def lookups(self, request, model_admin):
        return [("yes", "Has an error"), ("no", "No error")]

    def queryset(self, request, queryset):
        # Failed, busy and no-answer calls reached nobody, whether or not a reason was recorded.
        has_error = Q(status__in=ERROR_STATUSES) | ~Q(error_code="") | ~Q(error_message="")
        if self.value() == "yes":
            return queryset.filter(has_error)
        if self.value() == "no":
            return queryset.exclude(has_error)
        return queryset


class CampaignFilter(admin.SimpleListFilter):
    """The calls of one campaign (through their requests); choices are the user's campaigns."""

    title = "campaign"
    parameter_name = "campaign"

    def lookups(self, request, model_admin):
        campaigns = scoped(Campaign.objects.all(), request.user).order_by("-created_at")
        return [(str(pk), name) for pk, name in campaigns.values_list("pk", "name")[:30]]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(request__campaign_id=int(self.value()))
        return queryset


def ended_by_whom(call: CallLog) -> str:
    if call.ended_by == CallLog.EndedBy.OPERATOR and call.hang_up_requested_by_id:
        return f"Operator ({call.hang_up_requested_by.get_username()})"
    return call.get_ended_by_display()


@admin.register(CallLog)
class CallLogAdmin(NumberSearch, CsvExport, ScopedAdmin):
    # What an operator reads fits 1280 px: when, whose, from and to whom, in which campaign, how
    # it ended, how long, and why (the reason wraps; console.css keeps it wide).
    list_display = [
        "when",
        "business_name",
        "from_number",
        "to_number",
        "campaign",
        "status",
        "duration",
        "outcome",
    ]
    list_display_links = ["when"]
    list_filter = ["status", "direction", "business", HasErrorFilter, "ended_by", CampaignFilter]
    search_fields = ["call_sid", "from_number", "to_number"]
    date_hierarchy = "created_at"
    list_select_related = ["business", "hang_up_requested_by", "request__campaign"]
    export_noun = "call"
    export_columns = [
        ("id", "pk"),
        ("created_at", "created_at"),
        ("business", lambda c: c.business.name),
        ("campaign", lambda c: c.request.campaign.name if c.request and c.request.campaign else ""),
        ("direction", "direction"),
        ("from", "from_number"),
        ("to", "to_number"),
        ("status", "status"),
        ("duration_seconds", "duration_seconds"),
        ("answered_at", "answered_at"),
        ("answered_by", "answered_by"),
        ("ended_at", "ended_at"),
        ("ended_by", lambda c: ended_by_whom(c)),
        ("error_code", "error_code"),
        ("reason", outcome_reason),
        ("call_sid", "call_sid"),
        ("request_id", "request_id"),
        ("price", "price"),
        ("price_unit", "price_unit"),
        # calls.counts' figures, one yes/no per call, so a spreadsheet's sums match the console.
        *((name, lambda c, n=name: "yes" if getattr(c, f"is_{n}") else "") for name in DEFINITIONS),
    ]
    # A call's page reads as a summary, then its timeline; the internals (SIDs, sequence numbers,
    # nudges, raw parameters) are folded. What Twilio reports is not for anyone to edit.
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "status_and_why",
                    "from_number",
                    "to_number",
                    "campaign_link",
                    "request",
                    "duration",
                    "price_text",
                    "answered_by_text",
                    "keys_pressed",
                    "voicemail_left_at",
                ]
            },
        ),
        ("Timeline", {"fields": ["timeline"]}),
        (
            "Internals",
            {
                "classes": ["collapse"],
                "fields": [
                    "public_id",
                    "call_sid",
                    "business",
                    "lead",
                    "direction",
                    "status",
                    "last_sequence_number",
                    "error_code",
                    "error_message",
                    "sip_response_code",
                    "ended",
                    "dial_started_at",
                    "answered_at",
                    "ended_at",
                    "hang_up_requested_at",
                    "nudge_due_at",
                    "nudge_count",
                    "unlisted_since",
                    "no_lead_reason",
                    "price_checks",
                    "created_at",
                    "updated_at",
                ],
            },
        ),
        ("History", {"classes": ["collapse"], "fields": ["operator_actions"]}),
    ]
    readonly_fields = [field for _, spec in fieldsets for field in spec["fields"]]
    inlines = [CallEventInline]
    actions = ["hang_up", "retry_now", "reconcile"]

    def export_queryset(self, rows):
        return with_count_flags(rows)

    @admin.display(description="when", ordering="created_at")
    def when(self, call):
        # The date above the time: the column takes half the width of one line.
        local = timezone.localtime(call.created_at)
        return format_html("{}<br>{}", date_format(local, "Y-m-d"), date_format(local, "H:i:s T"))

    @admin.display(description="business", ordering="business__name")
    def business_name(self, call):
        return call.business.name

    @admin.display(description="campaign", ordering="request__campaign__name")
    def campaign(self, call):
        return call.request.campaign.name if call.request and call.request.campaign else "-"

    @admin.display(description="duration", ordering="duration_seconds")
    def duration(self, call):
        if call.duration_seconds is None:
            return "-"
        return f"{call.duration_seconds // 60}:{call.duration_seconds % 60:02d}"

    @admin.display(description="reason")
    def outcome(self, call):
        reason = outcome_reason(call)
        # Wrapped in its wide column; only a very long one is cut (whole in its title).
        if len(reason) <= 300:
            return reason or "-"
        return format_html('<span title="{}">{}…</span>', reason, reason[:298])

    @admin.display(description="ended by", ordering="ended_by")
    def ended(self, call):
        return ended_by_whom(call)

    @admin.display(description="status")
    def status_and_why(self, call):
        reason = outcome_reason(call)
        if not reason:
            return call.status
        return format_html("<strong>{}</strong>: {}", call.status, reason)

    @admin.display(description="campaign")
    def campaign_link(self, call):
        campaign = call.request.campaign if call.request else None
        if campaign is None:
            return "-"
        url = reverse("admin:calls_campaign_change", args=[campaign.pk])
        return format_html('<a href="{}">{}</a>', url, campaign.name)

    @admin.display(description="price")
    def price_text(self, call):
        if call.price is None:
            return "not priced (yet)" if call.call_sid and call.ended_at else "-"
        return f"{call.price.normalize()} {call.price_unit}"

    @admin.display(description="answered by")
    def answered_by_text(self, call):
        if not call.answered_by:
            return "-"
        known = call.answered_by in CallLog.AnsweredBy.values
        return CallLog.AnsweredBy(call.answered_by).label if known else call.answered_by

    @admin.display(description="keys pressed")
    def keys_pressed(self, call):
        return call.digits or "-"

    @admin.display(description="timeline")
    def timeline(self, call):
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((_moment(entry.at), entry.what, entry.detail) for entry in call_timeline(call)),
        )
        return format_html(
            '<table class="call-timeline"><thead><tr><th>When</th><th>What</th><th>Detail</th>'
            "</tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        call = self.get_object(request, object_id)
        extra = {"call_actions": self._call_actions(request, call)} if call else {}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def _call_actions(self, request, call) -> list[tuple[str, str]]:
        """The actions the user may run on this call, as the buttons of its page."""
        if not user_may(request.user, Role.OPERATOR, call.business_id):
            return []
        buttons = []
        if call.status in CallLog.LIVE_STATUSES:
            buttons += [("hang_up", "Hang up"), ("reconcile", "Reconcile with Twilio")]
        if call.request_id:
            buttons.append(("retry_now", "Retry now"))
        return buttons

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
class CallRequestAdmin(NumberSearch, CsvExport, ScopedAdmin):
    # What an operator reads fits 1280 px; why it waits, or why it failed, wraps.
    list_display = ["to_number", "campaign", "status", "attempts_made", "waiting_for_or_error"]
    list_filter = ["status", "business", "campaign"]
    search_fields = ["to_number"]
    list_select_related = ["business", "campaign"]
    export_noun = "request"
    export_columns = [
        ("id", "pk"),
        ("created_at", "created_at"),
        ("business", lambda r: r.business.name),
        ("campaign", lambda r: r.campaign.name if r.campaign else ""),
        ("to", "to_number"),
        ("status", "status"),
        ("attempts", "attempts"),
        ("max_attempts", "max_attempts"),
        ("next_attempt_at", "next_attempt_at"),
        ("waiting_for", "held_reason"),
        ("window_holds", "window_holds"),
        ("last_error", "last_error"),
        ("updated_at", "updated_at"),
    ]
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
        "waiting_for",
        "window_holds",
        "last_error",
        "consent",
        "metadata",
        "created_at",
        "updated_at",
        "operator_actions",
    ]
    inlines = [CallLogInline]
    actions = ["retry_now"]

    @admin.display(description="consent")
    def consent(self, call_request):
        """What consent allows its call, or why none is needed (compliance.consent)."""
        if call_request.pk is None or call_request.to_number == ERASED:
            return "-"
        return request_consent_summary(call_request)

    @admin.display(description="attempts", ordering="attempts")
    def attempts_made(self, call_request):
        return f"{call_request.attempts}/{call_request.max_attempts}"

    @admin.display(description="waiting for / last error")
    def waiting_for_or_error(self, call_request):
        """What holds a queued request (and until when), else why its last attempt failed."""
        if call_request.status == CallRequest.Status.QUEUED and call_request.held_reason:
            return call_request.held_reason
        return call_request.last_error or "-"

    @admin.display(description="waiting for")
    def waiting_for(self, call_request):
        """Why a queued request is not dialed yet, when a rule holds it (the calling window)."""
        if call_request.status != CallRequest.Status.QUEUED or not call_request.held_reason:
            return "-"
        return call_request.held_reason

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

"""Businesses (managers edit their settings; only superusers add them or touch what reaches Twilio
and the allowlists) and the switch for all dialing (superusers only)."""

from django import forms
from django.contrib import admin
from django.db.models import Count, Q

from calls.admin.scoping import SUPERUSER, ScopedAdmin, SuperuserOnly, role_action, user_may
from calls.admin.search import NumberSearch
from calls.admin.windows import window_formfield
from calls.models import Business, CallLog, DialingControl
from calls.scripts import GUARDED_VERBS
from calls.services import operator_actions
from calls.services.pauses import dialing_set
from calls.tenancy import Role
from twilio_accounts.services import businesses_subaccount_close
from webhooks.endpoints import webhook_secrets_rotate


@admin.register(Business)
class BusinessAdmin(NumberSearch, ScopedAdmin):
    business_path = "pk"
    add_role = SUPERUSER
    change_role = Role.MANAGER
    # Deleting one with history is refused by PROTECT; deactivate it instead.
    delete_role = SUPERUSER
    superuser_only_fields = (
        "phone_number",
        "is_active",
        "paused_reason",
        "allowed_recording_hosts",
        "extra_twiml_verbs",
        # Shown to managers as its name and SID (never its token); set by superusers.
        "twilio_account",
    )
    list_display = [
        "name",
        "phone_number",
        "max_concurrent_calls",
        "live_calls",
        "calling_window",
        "is_active",
        "paused_reason",
    ]
    list_filter = ["is_active"]
    ordering = ["name"]
    search_fields = ["name", "phone_number"]
    readonly_fields = ["operator_actions"]
    actions = [
        "resume",
        "deactivate",
        "activate",
        "rotate_webhook_secret",
        "close_twilio_subaccount",
    ]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        # The signing secret is shown to the business's managers only.
        if obj is not None and user_may(request.user, Role.MANAGER, obj.pk):
            fields = [*fields, "webhook_signing_secret"]
        return fields

    @admin.display(description="webhook signing secret")
    def webhook_signing_secret(self, business):
        return business.webhook_secret or "None yet: one is made when a webhook URL is saved."

    def get_queryset(self, request):
        live = Q(calls__status__in=CallLog.LIVE_STATUSES, calls__direction="outbound")
        return super().get_queryset(request).annotate(live=Count("calls", filter=live))

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "extra_twiml_verbs":
            return forms.MultipleChoiceField(
                choices=[(verb, verb) for verb in GUARDED_VERBS],
                widget=forms.CheckboxSelectMultiple,
                required=False,
                help_text=db_field.help_text,
            )
        if db_field.name == "webhook_url":
            kwargs["assume_scheme"] = "https"
        return window_formfield(db_field) or super().formfield_for_dbfield(
            db_field, request, **kwargs
        )

    @admin.display(description="calling window")
    def calling_window(self, business):
        return f"{business.calling_window.describe()} ({business.time_zone} when unknown)"

    @admin.display(ordering="live")
    def live_calls(self, business):
        return business.live

    @role_action(
        role=Role.OPERATOR,
        description="Resume dialing (clear the pause Twilio caused)",
        noun="business",
        verb="resumed",
        confirm="Resume dialing for {rows}: their queued calls go out now.",
    )
    def resume(self, request, queryset):
        ids = queryset.values_list("pk", flat=True)
        return operator_actions.businesses_resume(business_ids=ids)

    @role_action(
        role=Role.MANAGER,
        description="Deactivate (stop dialing, hang up live calls)",
        noun="business",
        verb="deactivated",
        confirm=(
            "Deactivate {rows}: no new calls are dialed and every live call is hung "
            "up now. Queued calls wait until the business is activated again."
        ),
    )
    def deactivate(self, request, queryset):
        ids = queryset.values_list("pk", flat=True)
        return operator_actions.businesses_deactivate(business_ids=ids, actor=request.user)

    @role_action(
        role=Role.MANAGER,
        description="Activate (dial again)",
        noun="business",
        verb="activated",
        confirm="Activate {rows}: their queued calls go out now.",
    )
    def activate(self, request, queryset):
        ids = queryset.values_list("pk", flat=True)
        return operator_actions.businesses_activate(business_ids=ids)

    @role_action(
        role=Role.MANAGER,
        description="Rotate the webhook signing secret",
        noun="business",
        verb="given a new webhook secret",
        confirm=(
            "Give {rows} a new webhook signing secret: from now on every webhook is signed "
            "with it, and receivers still checking with the old one refuse them."
        ),
    )
    def rotate_webhook_secret(self, request, queryset):
        return webhook_secrets_rotate(business_ids=queryset.values_list("pk", flat=True))

    @role_action(
        role=SUPERUSER,
        description="Close the Twilio subaccount (deactivated businesses)",
        noun="subaccount",
        verb="closed at Twilio",
        row_noun="business",
        confirm=(
            "Close the Twilio subaccounts of {rows} at Twilio, for good: Twilio releases their "
            "numbers and nothing dials through them again. Refused for an active business, the "
            "main account, an account other businesses use and one with live calls."
        ),
    )
    def close_twilio_subaccount(self, request, queryset):
        return businesses_subaccount_close(business_ids=queryset.values_list("pk", flat=True))


@admin.register(DialingControl)
class DialingControlAdmin(SuperuserOnly, admin.ModelAdmin):
    list_display = ["__str__", "reason", "updated_at"]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not DialingControl.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        dialing_set(paused=obj.paused, reason=obj.reason)

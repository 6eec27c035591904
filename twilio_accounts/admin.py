"""Twilio accounts: superusers only. Auth tokens are written, never shown."""

from django import forms
from django.contrib import admin

from calls.admin.scoping import SuperuserOnly
from calls.services.pauses import twilio_account_resume
from twilio_accounts.models import TwilioAccount


class TwilioAccountForm(forms.ModelForm):
    auth_token = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Written, never shown. Leave empty to keep the stored one.",
    )
    previous_auth_token = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="During a rotation only: webhooks signed with it are still accepted. Leave "
        "empty to keep the stored one; tick the box below to clear it.",
    )
    clear_previous_auth_token = forms.BooleanField(required=False)

    class Meta:
        model = TwilioAccount
        fields = [
            "friendly_name",
            "account_sid",
            "auth_token",
            "previous_auth_token",
            "calls_per_second",
            "max_concurrent_calls",
            "status",
            "paused_reason",
        ]

    def clean_auth_token(self):
        token = self.cleaned_data["auth_token"]
        if not token and not self.instance.pk:
            raise forms.ValidationError("An account needs its auth token.")
        return token or self.instance.auth_token

    def clean(self):
        data = super().clean()
        if data.get("clear_previous_auth_token"):
            data["previous_auth_token"] = ""
        elif not data.get("previous_auth_token"):
            data["previous_auth_token"] = self.instance.previous_auth_token
        return data


@admin.register(TwilioAccount)
class TwilioAccountAdmin(SuperuserOnly, admin.ModelAdmin):
    form = TwilioAccountForm
    list_display = [
        "__str__",
        "calls_per_second",
        "max_concurrent_calls",
        "status",
        "paused_reason",
    ]
    list_filter = ["status"]
    search_fields = ["account_sid", "friendly_name"]
    actions = ["resume"]

    @admin.action(description="Resume dialing (clear the pause Twilio caused)")
    def resume(self, request, queryset):
        resumed = sum(
            twilio_account_resume(account_id=pk) for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(request, f"Resumed {resumed} account(s).")

"""Campaigns: managers write their scripts (raw TwiML is for superusers), operators steer them."""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.db import models
from django.db.models import Count, Q
from django.http import Http404, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.http import url_has_allowed_host_and_scheme

from calls.admin.campaign_numbers import CampaignAddForm, campaign_numbers_view, numbers_result
from calls.admin.scoping import ScopedAdmin, role_action, user_may
from calls.admin.search import NumberSearch
from calls.admin.windows import window_formfield
from calls.dashboard import campaign_results
from calls.models import CallLog, CallRequest, Campaign
from calls.outcomes import outcome_reason
from calls.services import operator_actions
from calls.services.campaign_numbers import campaign_numbers_add
from calls.tenancy import Role
from compliance.purposes import Purpose

# The buttons of a campaign's page: (action, label, the statuses it applies to).
CAMPAIGN_BUTTONS = [
    ("pause", "Pause", (Campaign.Status.RUNNING, Campaign.Status.STOPPING)),
    ("resume", "Resume", (Campaign.Status.PAUSED, Campaign.Status.STOPPING)),
    ("stop", "Stop", (Campaign.Status.RUNNING, Campaign.Status.PAUSED)),
    (
        "cancel",
        "Cancel",
        (Campaign.Status.RUNNING, Campaign.Status.PAUSED, Campaign.Status.STOPPING),
    ),
]
RECENT_REQUESTS = 50
# A form field naming the page an action's button was pressed on, to go back to it.
RETURN_TO = "_return_to"
MACHINE_FIELDSET = (
    "Answering machines",
    {"fields": ["machine_detection", "voicemail_text", "machine_retry_hours"]},
)
WINDOW_FIELDSET = (
    "Calling window (narrows the business's; empty fields keep the business's)",
    {"fields": [("window_start_hour", "window_end_hour"), "window_days"]},
)
SCRIPT_FIELDS = [
    "recording_url",
    "say_text",
    "voice",
    "language",
    "offers_opt_out",
    "opt_out_prompt",
    "raw_twiml",
]


@admin.register(Campaign)
class CampaignAdmin(NumberSearch, ScopedAdmin):
    add_role = change_role = delete_role = Role.MANAGER
    superuser_only_fields = ("raw_twiml", "consent_exempt_reason")
    readonly_on_change = ("business", "purpose")
    list_display = ["name", "business", "status", "progress", "concurrency", "created_at"]
    list_filter = ["status", "business"]
    # A name, or a number it called however it is written ("(415) 555-0199", "555-0199").
    search_fields = ["name", "requests__to_number"]
    list_select_related = ["business"]
    autocomplete_fields = ["business"]
    # A recording is fetched by Twilio over https only (the allowlist refuses http).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    readonly_fields = [
        "status",
        "progress",
        "recent_requests",
        "created_at",
        "ended_at",
        "operator_actions",
        "consent_exempt_by",
    ]
    # The page leads with its live results (change_form.html); the settings follow, folded, for
    # the rarer visit that changes them.
    fieldsets = [
        (None, {"fields": ["recent_requests"]}),
        (
            "Settings",
            {
                "fields": [
                    "business",
                    "name",
                    "purpose",
                    "concurrency",
                    ("consent_exempt_reason", "consent_exempt_by"),
                ],
                "classes": ["collapse"],
            },
        ),
        (WINDOW_FIELDSET[0], {**WINDOW_FIELDSET[1], "classes": ["collapse"]}),
        (
            "Script (what the callee hears)",
            {"fields": SCRIPT_FIELDS, "classes": ["collapse"]},
        ),
        (MACHINE_FIELDSET[0], {**MACHINE_FIELDSET[1], "classes": ["collapse"]}),
        (
            "History",
            {"fields": ["created_at", "ended_at", "operator_actions"], "classes": ["collapse"]},
        ),
    ]
    add_fieldsets = [
        (None, {"fields": ["business", "name", "purpose", "concurrency", "consent_exempt_reason"]}),
        WINDOW_FIELDSET,
        ("Numbers to call", {"fields": ["numbers", "numbers_file"]}),
        (
            "Script (what the callee hears)",
            {"fields": SCRIPT_FIELDS},
        ),
        MACHINE_FIELDSET,
    ]
    actions = ["pause", "resume", "stop", "cancel", "cancel_and_hang_up"]

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = CampaignAddForm
        return super().get_form(request, obj, **kwargs)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "purpose":
            # Asked, never assumed: which laws hold the calls is the manager's to say.
            return forms.ChoiceField(
                choices=[("", "---------"), *Purpose.choices], help_text=db_field.help_text
            )
        return window_formfield(db_field) or super().formfield_for_dbfield(
            db_field, request, **kwargs
        )

    def save_model(self, request, obj, form, change):
        if "consent_exempt_reason" in form.changed_data:
            # Who exempted it is kept with the reason (and the change in the admin's history).
            obj.consent_exempt_by = request.user if obj.consent_exempt_reason else None
        super().save_model(request, obj, form, change)
        if not change:
            request.campaign_numbers = campaign_numbers_add(campaign=obj, rows=form.rows)

    def response_add(self, request, obj, post_url_continue=None):
        return numbers_result(request, self, obj, request.campaign_numbers)

    def get_urls(self):
        numbers = self.admin_site.admin_view(self.numbers_view)
        live = self.admin_site.admin_view(self.live_view)
        urls = [
            path("<path:object_id>/numbers/", numbers, name="calls_campaign_numbers"),
            path("<path:object_id>/live/", live, name="calls_campaign_live"),
        ]
        return urls + super().get_urls()

    def numbers_view(self, request, object_id):
        return campaign_numbers_view(request, self, object_id)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        campaign = self.get_object(request, object_id)
        extra = self._live_context(request, campaign) if campaign else {}
        extra["refresh_seconds"] = settings.DASHBOARD_REFRESH_SECONDS
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def live_view(self, request, object_id):
        """The page's results and buttons, which its script fetches every few seconds."""
        campaign = self.get_object(request, object_id)
        if campaign is None:
            raise Http404("No such campaign.")
        context = {**self._live_context(request, campaign), "original": campaign}
        return TemplateResponse(request, "admin/calls/campaign/live.html", context)

    def _live_context(self, request, campaign) -> dict:
        context = {"results": campaign_results(campaign), "campaign": campaign}
        if user_may(request.user, Role.OPERATOR, campaign.business_id):
            context["campaign_actions"] = [
                (name, label)
                for name, label, applies in CAMPAIGN_BUTTONS
                if campaign.status in applies
            ]
            context["may_add_numbers"] = campaign.status not in Campaign.CLOSED_STATUSES
        return context

    def response_action(self, request, queryset):
        """A button of a campaign's page brings the operator back to that page (after its
        confirmation, when it asks one), not to the list of campaigns."""
        response = super().response_action(request, queryset)
        back = request.POST.get(RETURN_TO, "")
        if not back or not url_has_allowed_host_and_scheme(
            back, {request.get_host()}, request.is_secure()
        ):
            return response
        if isinstance(response, TemplateResponse) and response.context_data is not None:
            response.context_data["return_to"] = back  # carried through the confirmation
        elif isinstance(response, HttpResponseRedirect):
            return HttpResponseRedirect(back)
        return response

    @admin.display(description=f"latest {RECENT_REQUESTS} requests")
    def recent_requests(self, campaign):
        if campaign is None or campaign.pk is None:
            return "-"
        requests = list(
            campaign.requests.select_related("lead").order_by("-updated_at", "-id")[
                :RECENT_REQUESTS
            ]
        )
        last_calls = {}
        calls = CallLog.objects.filter(request__in=requests).order_by("request_id", "-created_at")
        for call in calls:
            last_calls.setdefault(call.request_id, call)
        rows = [
            (
                request,
                last_calls.get(request.pk),
                outcome_reason(last_calls[request.pk]) if request.pk in last_calls else "",
            )
            for request in requests
        ]
        return render_to_string(
            "admin/calls/campaign/recent.html", {"campaign": campaign, "rows": rows}
        )

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

"""The operators' pages beside the model admins: the dashboard (scoped by membership, refreshed in
the browser every few seconds), resuming a paused business from it, the time zone setting, and
the page a role does not allow. Views only: they read through calls.dashboard and calls.health
and act through the admin's recorded actions."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from calls.charts import OUTCOME_COLOURS, live_against_caps_chart, outcomes_chart
from calls.counts import LABELS
from calls.dashboard import OUTCOMES, business_states, dialing_paused, outcomes_per_minute
from calls.health import dialing_health, health_checks
from calls.models import Business
from calls.pool_figures import (
    ShortCallShare,
    account_short_call_share,
    pool_summaries,
    short_call_shares,
)
from calls.preferences import operator_time_zone, operator_time_zone_set, time_zone_names
from calls.templatetags.console import duration_text
from calls.tenancy import Membership, Role, businesses_for, is_superuser

PARTS = {
    "live": "admin/calls/dashboard_live.html",
    "history": "admin/calls/dashboard_history.html",
}


def _live_context(request) -> dict:
    businesses = businesses_for(request.user)
    states = business_states(businesses)
    may_resume = set(businesses_for(request.user, Role.OPERATOR).values_list("pk", flat=True))
    for state in states:
        state.wait_text = duration_text(state.oldest_due_wait)
        state.outcome_counts = [(o, state.outcomes.get(o, 0)) for o in OUTCOMES]
        state.may_resume = bool(state.business.paused_reason) and state.business.pk in may_resume
    checks = health_checks()
    return {
        "states": states,
        "checks": checks,
        "problems": dialing_health(checks),
        "all_paused": dialing_paused(),
        "caps_chart": live_against_caps_chart(states),
        "count_labels": list(LABELS.items()),
    }


def _history_context(request) -> dict:
    businesses = businesses_for(request.user)
    series = outcomes_per_minute(businesses)
    return {
        "outcomes_chart": outcomes_chart(series, OUTCOMES),
        "legend": [(o, OUTCOME_COLOURS[o]) for o in OUTCOMES],
        **_numbers_context(request, businesses),
    }


def _numbers_context(request, businesses) -> dict:
    """The caller numbers' panel: each business's pool and its month against Twilio's
    12-second rule; the whole account's month for superusers (it spans every business)."""
    businesses = list(businesses.order_by("name"))
    summaries = pool_summaries(businesses)
    shares = short_call_shares([b.pk for b in businesses])
    rows = [
        (business, summaries.get(business.pk), shares.get(business.pk, ShortCallShare()))
        for business in businesses
        if business.pk in summaries or business.pk in shares
    ]
    return {
        "number_rows": rows,
        "account_share": account_short_call_share() if is_superuser(request.user) else None,
        "short_call_warning": f"{settings.SHORT_CALL_WARNING_SHARE:.0%}",
    }


def dashboard(request):
    """Every business the user may see: live calls against the cap, the queue, the last hour,
    the pause. `?part=live` or `?part=history` is the fragment the page's script refreshes."""
    part = request.GET.get("part")
    if part in PARTS:
        builder = _live_context if part == "live" else _history_context
        return TemplateResponse(request, PARTS[part], builder(request))
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "refresh_seconds": settings.DASHBOARD_REFRESH_SECONDS,
        **_live_context(request),
        **_history_context(request),
    }
    return TemplateResponse(request, "admin/calls/dashboard.html", context)


def business_resume(request, business_id: int):
    """Resumes a paused business through the businesses' own "Resume dialing" action: the same
    role check, confirmation page, service and action record as in the list of businesses."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    model_admin = admin.site.get_model_admin(Business)
    actions = model_admin.get_actions(request)
    if "resume" not in actions:
        raise PermissionDenied
    action = actions["resume"][0]
    response = action(model_admin, request, Business.objects.filter(pk=business_id))
    return response or redirect("admin:dashboard")


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        help_text="Every time in the admin is shown in this zone, with its name.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(name, name) for name in time_zone_names()]


def preferences(request):
    form = TimeZoneForm(request.POST or None, initial={"time_zone": operator_time_zone(request)})
    if request.method == "POST" and form.is_valid():
        zone = form.cleaned_data["time_zone"]
        operator_time_zone_set(request, zone)
        messages.success(request, f"Times are now shown in {zone}.")
        return redirect("admin:index")
    context = {**admin.site.each_context(request), "title": "Your time zone", "form": form}
    return TemplateResponse(request, "admin/calls/preferences.html", context)


def permission_denied(request, exception=None):
    """A page the user's role does not allow (config.urls' handler403), in the admin's style: what
    each role may do, and the user's own roles, so a viewer knows whom to ask."""
    user = request.user
    context = {
        **admin.site.each_context(request),
        "title": "Your role does not allow this",
        "memberships": (
            Membership.objects.filter(user=user).select_related("business").order_by("business")
            if user.is_authenticated
            else []
        ),
        "roles": ROLE_RIGHTS,
    }
    return TemplateResponse(request, "admin/calls/refused.html", context, status=403)


ROLE_RIGHTS = [
    ("viewer", "reads every page of its business: calls, requests, campaigns, leads, exports"),
    ("operator", "also queues calls, pauses, resumes and stops campaigns, hangs up, retries"),
    ("manager", "also edits the business's settings, campaigns' scripts, lists and members"),
]

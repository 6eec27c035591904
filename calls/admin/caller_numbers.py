"""A business's caller numbers: managers add them (or import them from Twilio with
`manage.py twilio_numbers_sync`), set their daily caps, retire them, and restore a quarantined
one; every member sees them with today's count and the reason of any quarantine."""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path

from calls.admin.scoping import ScopedAdmin, role_action
from calls.admin.search import NumberSearch
from calls.models import CallerNumber
from calls.phone import to_e164
from calls.services.caller_numbers import business_day, pool_holds_release
from calls.services.number_health import (
    BusinessHealth,
    business_number_figures,
    numbers_restore,
)
from calls.services.operator_actions import ActionResult
from calls.tenancy import Role, businesses_for


class CallerNumberForm(forms.ModelForm):
    # Typed as people write it, stored in E.164.
    number = forms.CharField(max_length=64, help_text="E.164, e.g. +14155550123.")

    class Meta:
        model = CallerNumber
        fields = ["business", "number", "status", "daily_cap", "quarantine_reason"]

    def clean_number(self):
        return to_e164(self.cleaned_data["number"])


@admin.register(CallerNumber)
class CallerNumberAdmin(NumberSearch, ScopedAdmin):
    add_role = change_role = Role.MANAGER
    form = CallerNumberForm
    readonly_on_change = ("business", "number")
    list_display = [
        "number",
        "business",
        "status",
        "region",
        "calls_today",
        "daily_cap",
        "quarantine_reason",
        "quarantined_at",
    ]
    list_filter = ["business", "status"]
    search_fields = ["number"]
    list_select_related = ["business"]
    autocomplete_fields = ["business"]
    ordering = ["business__name", "number"]
    actions = ["restore"]
    change_list_template = "admin/calls/callernumber/change_list.html"
    readonly_fields = ["region", "calls_today", "quarantined_at", "twilio_sid", "operator_actions"]
    fields = [
        "business",
        "number",
        "status",
        "daily_cap",
        "region",
        "calls_today",
        "quarantine_reason",
        "quarantined_at",
        "twilio_sid",
        "operator_actions",
    ]

    @admin.display(description="calls today")
    def calls_today(self, row):
        if row.pk is None:
            return "-"
        today, _ = business_day(row.business)
        return row.calls_on_day if row.counted_day == today else 0

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # A new number, a raised cap or a number made active again may call what the pool held.
        pool_holds_release(business_id=obj.business_id)

    @role_action(
        role=Role.MANAGER,
        description="Restore (end the quarantine; health judged afresh)",
        noun="number",
        verb="restored",
    )
    def restore(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        restored = numbers_restore(numbers=ids, actor=request.user)
        result = ActionResult(changed=restored)
        if len(ids) > restored:
            result.unchanged["were not quarantined"] += len(ids) - restored
        return result

    def get_urls(self):
        view = self.admin_site.admin_view(self.health_view)
        return [path("health/", view, name="calls_callernumber_health")] + super().get_urls()

    def health_view(self, request):
        """Each of the user's businesses' numbers: today against the cap, the health figures
        the quarantine is judged on, against the pool's median, and why any is resting."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        pools = []
        with_pool = businesses_for(request.user).filter(caller_numbers__isnull=False).distinct()
        for business in with_pool.order_by("name"):
            figures, median = business_number_figures(business)
            for each in figures:
                each.against_pool = (
                    f"{each.answer_rate / median:.1f} x the median"
                    if median and each.answer_rate is not None
                    else "-"
                )
            pools.append(BusinessHealth(business, median, figures))
        context = {
            **self.admin_site.each_context(request),
            "title": "Number health",
            "pools": pools,
            "days": settings.NUMBER_HEALTH_DAYS,
            "min_attempts": settings.NUMBER_HEALTH_MIN_ATTEMPTS,
            "fraction": settings.NUMBER_ANSWER_RATE_FRACTION,
            "rejected_share": f"{settings.NUMBER_MAX_REJECTED_SHARE:.0%}",
            "short_share": f"{settings.NUMBER_MAX_SHORT_SHARE:.0%}",
            "quarantine_hours": settings.NUMBER_QUARANTINE_HOURS,
            "every_minutes": max(settings.NUMBER_HEALTH_EVERY_SECONDS // 60, 1),
        }
        return TemplateResponse(request, "admin/calls/callernumber/health.html", context)

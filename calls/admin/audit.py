"""The action log and the erasures: what people did, read only for everyone."""

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html_join

from calls.admin.scoping import ScopedAdmin
from calls.audit import NumberErasure, OperatorAction
from calls.tenancy import Role


@admin.register(OperatorAction)
class OperatorActionAdmin(ScopedAdmin):
    list_display = ["created_at", "username", "business", "description", "rows", "summary"]
    list_filter = ["action", "target", "business"]
    search_fields = ["username", "description", "summary"]
    list_select_related = ["business"]
    date_hierarchy = "created_at"
    fields = readonly_fields = [
        "created_at",
        "username",
        "business",
        "description",
        "action",
        "target",
        "rows",
        "rows_touched",
        "summary",
    ]

    @admin.display(description="rows it ran on")
    def rows_touched(self, action):
        app_label, model_name = action.target.split(".")
        ids = action.targets.values_list("object_id", flat=True)
        links = []
        for pk in ids:
            try:
                url = reverse(f"admin:{app_label}_{model_name}_change", args=[pk])
            except NoReverseMatch:
                url = ""
            links.append((url, f"{model_name} {pk}"))
        return format_html_join(", ", '<a href="{}">{}</a>', links) if links else "-"


@admin.register(NumberErasure)
class NumberErasureAdmin(ScopedAdmin):
    view_role = Role.MANAGER
    list_display = ["created_at", "business", "requested_by_name", "via", "leads", "calls"]
    list_filter = ["via", "business"]
    list_select_related = ["business"]
    fields = readonly_fields = [
        "created_at",
        "business",
        "number_hash",
        "requested_by_name",
        "via",
        "leads",
        "calls",
        "requests",
        "events",
    ]

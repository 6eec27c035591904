from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from calls.admin.calls import CallLogInline
from calls.admin.exports import CsvExport
from calls.admin.scoping import ScopedAdmin, role_action
from calls.admin.search import NumberSearch
from calls.services.enqueue import enqueue_outbound_call_try
from calls.services.erasure import ErasureRefused, number_erase
from calls.services.operator_actions import ActionResult
from calls.tenancy import Role
from leads.models import Lead


@admin.register(Lead)
class LeadAdmin(NumberSearch, CsvExport, ScopedAdmin):
    add_role = change_role = Role.OPERATOR
    delete_role = Role.MANAGER
    readonly_on_change = ("business",)
    list_display = [
        "phone_number",
        "name",
        "region",
        "business",
        "status",
        "source",
        "last_call_at",
    ]
    list_filter = ["status", "source", "region", "business"]
    search_fields = ["phone_number", "name"]
    list_select_related = ["business"]
    autocomplete_fields = ["business"]
    readonly_fields = ["last_call_at", "last_call_direction", "operator_actions"]
    inlines = [CallLogInline]
    actions = ["call_selected", "erase_numbers"]
    export_noun = "lead"
    export_columns = [
        ("id", "pk"),
        ("business", lambda lead: lead.business.name),
        ("phone_number", "phone_number"),
        ("name", "name"),
        ("region", "region"),
        ("status", "status"),
        ("source", "source"),
        ("last_call_at", "last_call_at"),
        ("last_call_direction", "last_call_direction"),
        ("created_at", "created_at"),
    ]

    @role_action(
        role=Role.OPERATOR,
        description="Call selected leads",
        noun="call",
        verb="queued",
        confirm="Dial {rows} now (each once, within its business's limits).",
        row_noun="lead",
    )
    def call_selected(self, request, queryset):
        result = ActionResult()
        for lead in queryset.select_related("business"):
            outcome = enqueue_outbound_call_try(
                business=lead.business, to_number=lead.phone_number, lead=lead
            )
            if outcome.request:
                result.changed += 1
            else:
                # The reason may name the number: shown to the operator, not kept in the log.
                self.message_user(request, f"{lead}: {outcome.refused}", messages.WARNING)
                result.unchanged["were refused (see the warnings)"] += 1
        return result

    @role_action(
        role=Role.MANAGER,
        description="Erase these numbers (the person asked)",
        noun="number",
        verb="erased",
        confirm=(
            "Erase the numbers of {rows} from this business for good: the leads are deleted, the "
            "numbers are removed from their calls and requests, and the raw callback data of "
            "those calls is dropped. Queued calls to them are canceled. This cannot be undone."
        ),
        row_noun="lead",
    )
    def erase_numbers(self, request, queryset):
        result = ActionResult()
        for lead in queryset:
            try:
                number_erase(
                    business_id=lead.business_id,
                    number=lead.phone_number,
                    user=request.user,
                    via="admin",
                )
            except ErasureRefused:
                result.unchanged["had a live call (hang it up, then erase)"] += 1
            except ValidationError:
                result.unchanged["were not valid numbers"] += 1
            else:
                result.changed += 1
        return result

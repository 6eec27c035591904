from django.contrib import admin, messages

from calls.admin import CallLogInline
from calls.services.enqueue import enqueue_outbound_call_try
from leads.models import Lead


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["phone_number", "name", "business", "status", "source", "last_call_at"]
    list_filter = ["status", "source", "business"]
    search_fields = ["phone_number", "name"]
    list_select_related = ["business"]
    inlines = [CallLogInline]
    actions = ["call_selected"]

    @admin.action(description="Call selected leads")
    def call_selected(self, request, queryset):
        queued = 0
        for lead in queryset.select_related("business"):
            result = enqueue_outbound_call_try(
                business=lead.business, to_number=lead.phone_number, lead=lead
            )
            if result.request:
                queued += 1
            else:
                self.message_user(request, f"{lead}: {result.refused}", messages.WARNING)
        self.message_user(request, f"Queued {queued} call(s).")

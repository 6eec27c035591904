"""API keys in the admin: managers of a business make and revoke its keys. A new key is shown
once, on the page that answers the form; only its hash is kept."""

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers, patch_cache_control

from api.keys import api_key_create, api_keys_revoke
from api.models import ApiKey
from calls.admin.scoping import ScopedAdmin, role_action
from calls.services.operator_actions import ActionResult
from calls.tenancy import Role


@admin.register(ApiKey)
class ApiKeyAdmin(ScopedAdmin):
    view_role = add_role = Role.MANAGER
    list_display = ["name", "business", "prefix", "created_at", "created_by", "last_used_at"]
    list_filter = ["business"]
    search_fields = ["name", "prefix", "business__name"]
    list_select_related = ["business", "created_by"]
    autocomplete_fields = ["business"]
    fields = ["business", "name"]
    readonly_fields = ["prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_list_display(self, request):
        return [*self.list_display, "revoked_at"]

    def get_fields(self, request, obj=None):
        return self.fields if obj is None else ["business", "name", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["business", "name", *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        if change:
            return
        row, key = api_key_create(business=obj.business, name=obj.name, created_by=request.user)
        obj.pk, obj.prefix, obj.created_at = row.pk, row.prefix, row.created_at
        request.api_key_made = key

    def response_add(self, request, obj, post_url_continue=None):
        """The key, on the answer to the form and nowhere else: a message would travel in the
        signed (not encrypted) messages cookie or sit in the session until read."""
        context = {
            **self.admin_site.each_context(request),
            "title": "New API key",
            "opts": self.model._meta,
            "row": obj,
            "key": request.api_key_made,
        }
        response = TemplateResponse(request, "admin/api/apikey/created.html", context)
        add_never_cache_headers(response)
        patch_cache_control(response, no_store=True)
        return response

    @role_action(
        role=Role.MANAGER,
        description="Revoke selected API keys",
        noun="API key",
        verb="revoked",
        confirm="{rows} will stop working at once; programs using them get 401.",
    )
    def revoke(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        revoked = api_keys_revoke(key_ids=ids)
        result = ActionResult(changed=revoked)
        if len(ids) > revoked:
            result.unchanged["had been revoked already"] = len(ids) - revoked
        return result

"""People's pages (Django's users), with their memberships. Superusers see and edit every
account as Django's own user admin does; a manager reads the accounts of its businesses' members
(name, e-mail, last login, their memberships there), never Django's permission widgets (groups,
per-model permissions, superuser status: access here comes from memberships alone), nor their
memberships elsewhere."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from calls.admin.scoping import SUPERUSER, ScopedAdmin, user_may
from calls.tenancy import Membership, Role, businesses_for, is_superuser, scoped

User = get_user_model()

MEMBER_FIELDSETS = [
    (None, {"fields": ["username", "first_name", "last_name", "email"]}),
    ("Account", {"fields": ["is_active", "last_login", "date_joined"]}),
]


class MembershipInline(admin.TabularInline):
    """The person's memberships the reader may see (all, for a superuser)."""

    model = Membership
    fk_name = "user"
    fields = ["business", "role", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "memberships (change them under Members)"

    def get_queryset(self, request):
        rows = super().get_queryset(request).select_related("business")
        return scoped(rows, request.user, role=Role.MANAGER)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return user_may(request.user, Role.MANAGER, anywhere=True)


admin.site.unregister(User)


@admin.register(User)
class PeopleAdmin(ScopedAdmin, UserAdmin):
    view_role = Role.MANAGER
    add_role = change_role = delete_role = SUPERUSER
    inlines = [MembershipInline]

    def get_queryset(self, request):
        people = User._default_manager.all()
        if is_superuser(request.user):
            return people
        managed = businesses_for(request.user, Role.MANAGER)
        return people.filter(pk__in=Membership.objects.filter(business__in=managed).values("user"))

    def _may(self, request, role, obj=None):
        if obj is None or role != Role.MANAGER or is_superuser(request.user):
            return super()._may(request, role)
        # A person is readable by the managers of a business it is a member of.
        return self.get_queryset(request).filter(pk=obj.pk).exists()

    def get_fieldsets(self, request, obj=None):
        if is_superuser(request.user):
            return super().get_fieldsets(request, obj)
        return MEMBER_FIELDSETS

    def get_list_display(self, request):
        if is_superuser(request.user):
            return super().get_list_display(request)
        return ["username", "email", "first_name", "last_name", "last_login"]

    def get_list_filter(self, request):
        if is_superuser(request.user):
            return super().get_list_filter(request)
        return ["is_active"]

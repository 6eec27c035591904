"""Who belongs to which business, managed by that business's managers and by superusers.

A manager adds someone already a member of one of its businesses (to another, or in another
role), or invites a person by e-mail address (calls/admin/invitations.py): no form takes a
user name, so no answer tells whether an account exists, and no manager turns an existing
account into staff. Superusers may add any account.
"""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model

from calls.admin.scoping import ScopedAdmin
from calls.tenancy import Membership, Role, businesses_for, is_superuser


def people_of(user):
    """The active accounts `user` may add to a business: members of the businesses it manages
    (every account, for a superuser)."""
    accounts = get_user_model().objects.filter(is_active=True).order_by("username")
    if is_superuser(user):
        return accounts
    managed = businesses_for(user, Role.MANAGER)
    members = Membership.objects.filter(business__in=managed).values("user_id")
    return accounts.filter(pk__in=members)


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["user", "business", "role"]

    def clean(self):
        data = super().clean()
        user, business = data.get("user"), data.get("business")
        if user and business and Membership.objects.filter(user=user, business=business).exists():
            raise forms.ValidationError(f"{user} is a member of {business.name} already.")
        return data


@admin.register(Membership)
class MembershipAdmin(ScopedAdmin):
    view_role = add_role = change_role = delete_role = Role.MANAGER
    list_display = ["user", "business", "role", "created_at"]
    list_filter = ["role", "business"]
    search_fields = ["user__username", "business__name"]
    list_select_related = ["user", "business"]
    autocomplete_fields = ["business"]
    form = MembershipForm

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = people_of(request.user)
            kwargs["help_text"] = (
                "Someone already a member of one of your businesses. To add anyone else, "
                "invite them by e-mail (Invitations)."
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return ["user", "business"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        if not change and is_superuser(request.user) and not obj.user.is_staff:
            # A superuser's choice; a manager's people are members (staff) already.
            obj.user.is_staff = True
            obj.user.save(update_fields=["is_staff"])
        super().save_model(request, obj, form, change)

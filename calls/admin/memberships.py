"""Who belongs to which business, managed by that business's managers and by superusers."""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model

from calls.admin.scoping import ScopedAdmin
from calls.tenancy import Membership, Role


class MembershipForm(forms.ModelForm):
    # A name, not a list of every account: a manager sees the people of its businesses only.
    username = forms.CharField(
        max_length=150, help_text="The user's login name; a superuser creates accounts."
    )

    class Meta:
        model = Membership
        fields = ["username", "business", "role"]

    def clean_username(self):
        user = get_user_model().objects.filter(username=self.cleaned_data["username"]).first()
        if user is None or not user.is_active:
            raise forms.ValidationError("No active user by that name.")
        return user

    def clean(self):
        data = super().clean()
        user, business = data.get("username"), data.get("business")
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

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = MembershipForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ["username", "business", "role"] if obj is None else ["user", "business", "role"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "business"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        if not change:
            obj.user = form.cleaned_data["username"]
            # A membership is what lets a user into the admin; it grants nothing by itself.
            if not obj.user.is_staff:
                obj.user.is_staff = True
                obj.user.save(update_fields=["is_staff"])
        super().save_model(request, obj, form, change)

"""Invitations by e-mail (calls/services/invitations.py): managers send them from the admin; the
person opens the link, outside the admin's login, and accepts by setting the password of a new
account or by logging in to theirs."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.forms import AuthenticationForm, SetPasswordForm
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from calls.admin.scoping import ScopedAdmin
from calls.services.invitations import (
    INVITATION_DAYS,
    InvitationGone,
    InvitationNotSent,
    account_of,
    invitation_accept,
    invitation_account_create,
    invitation_find,
    invitation_send,
)
from calls.tenancy import Invitation, Role


class InvitationForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ["email", "business", "role"]

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        # It becomes the new account's user name.
        try:
            UnicodeUsernameValidator()(email)
        except ValidationError as error:
            raise ValidationError(
                "Use an address of letters, digits and @ . + - _ only."
            ) from error
        return email


@admin.register(Invitation)
class InvitationAdmin(ScopedAdmin):
    view_role = add_role = delete_role = Role.MANAGER
    form = InvitationForm
    list_display = ["email", "business", "role", "state", "invited_by_name", "created_at"]
    list_filter = ["role", "business"]
    search_fields = ["email"]
    list_select_related = ["business"]
    autocomplete_fields = ["business"]
    readonly_fields = ["state", "invited_by_name", "created_at", "expires_at", "accepted_at"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["email", "business", "role"]
        return ["email", "business", "role", *self.readonly_fields]

    @admin.display(description="state")
    def state(self, invitation):
        return invitation.state

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except InvitationNotSent as error:
            self.message_user(request, str(error), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        if change:
            return
        sent = invitation_send(
            business=obj.business,
            email=obj.email,
            role=obj.role,
            invited_by=request.user,
            site_url=request.build_absolute_uri("/"),
        )
        obj.pk, obj.created_at, obj.expires_at = sent.pk, sent.created_at, sent.expires_at

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(
            request,
            f"An invitation to {obj.business.name} as {obj.role} was sent to {obj.email}. The "
            f"link in it works once, for {INVITATION_DAYS} days; whoever accepts it appears "
            "among the members.",
            messages.SUCCESS,
        )
        return self.response_post_save_add(request, obj)


@sensitive_post_parameters()
@csrf_protect
@never_cache
def invitation_accept_view(request, token):
    """The invitation's link: join as the logged-in user, log in to an account of the address,
    or set the password of a new account named by the address."""
    invitation = invitation_find(token=token)
    context = {**admin.site.each_context(request), "title": "Invitation", "invitation": invitation}
    if invitation is None:
        context["gone"] = True
        return TemplateResponse(request, "admin/calls/invitation/accept.html", context, status=404)
    existing = account_of(invitation.email)
    action = request.POST.get("action") if request.method == "POST" else None
    login_form = AuthenticationForm(request, data=request.POST if action == "login" else None)
    new_user = get_user_model()(username=invitation.email, email=invitation.email)
    password_form = SetPasswordForm(new_user, data=request.POST if action == "create" else None)
    try:
        if action == "accept" and request.user.is_authenticated:
            invitation_accept(invitation=invitation, user=request.user)
            return _joined(request, invitation)
        if action == "login" and login_form.is_valid():
            user = login_form.get_user()
            invitation_accept(invitation=invitation, user=user)
            login(request, user)
            return _joined(request, invitation)
        if action == "create" and existing is None and password_form.is_valid():
            try:
                user = invitation_account_create(
                    invitation=invitation, password=password_form.cleaned_data["new_password1"]
                )
            except IntegrityError:
                # The name was taken meanwhile (or by an inactive account).
                existing = account_of(invitation.email)
                password_form.add_error(
                    None, "An account has this user name: log in to join, or ask a superuser."
                )
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                return _joined(request, invitation)
    except InvitationGone:
        context["gone"] = True
        return TemplateResponse(request, "admin/calls/invitation/accept.html", context, status=404)
    context.update(
        login_form=login_form,
        password_form=None if existing else password_form,
        has_account=existing is not None,
    )
    return TemplateResponse(request, "admin/calls/invitation/accept.html", context)


def _joined(request, invitation):
    messages.success(
        request, f"You are a member of {invitation.business.name} as {invitation.role}."
    )
    return redirect("admin:index")

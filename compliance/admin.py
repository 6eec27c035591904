"""Consent records: a business's members read them, managers record them and, like operators,
record an opt-out; nobody edits or deletes one (they are the proof the law asks for)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models

from calls.admin.scoping import ScopedAdmin, role_action
from calls.admin.search import NumberSearch
from calls.services.operator_actions import ActionResult
from calls.tenancy import Role
from compliance.consent_records import ERASED, ConsentGiven, consent_record_build
from compliance.models import ConsentRecord
from compliance.opt_outs import Via, number_opt_out
from compliance.purposes import Purpose


class ConsentRecordForm(forms.ModelForm):
    # Typed as people write it ("+1 (415) 555-0123"), stored in E.164.
    phone_number = forms.CharField(max_length=64, help_text="E.164, e.g. +14155550123.")
    purposes = forms.MultipleChoiceField(
        choices=Purpose.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ConsentRecord
        fields = []

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        given = ConsentGiven(
            number=data["phone_number"],
            kind=data["kind"],
            purposes=data["purposes"],
            source=data["source"],
            captured_at=data["captured_at"],
            evidence_text=data.get("evidence_text", ""),
            evidence_url=data.get("evidence_url", ""),
            evidence_sha256=data.get("evidence_sha256", ""),
            relationship=data.get("relationship", ""),
            relationship_at=data.get("relationship_at"),
            expires_at=data.get("expires_at"),
        )
        try:
            built = consent_record_build(business=data["business"], given=given)
        except ValidationError as error:
            fields = {"to": "phone_number", "evidence": "evidence_text"}
            raise ValidationError(
                {fields.get(name, name): messages for name, messages in error.message_dict.items()}
            ) from error
        # As the record will hold them (construct_instance copies cleaned_data).
        for name in ("phone_number", "purposes", "expires_at", "evidence_sha256"):
            data[name] = getattr(built, name)
        return data


@admin.register(ConsentRecord)
class ConsentRecordAdmin(NumberSearch, ScopedAdmin):
    add_role = Role.MANAGER
    form = ConsentRecordForm
    list_display = [
        "phone_number",
        "business",
        "kind",
        "purposes_list",
        "captured_at",
        "expires_at",
        "revoked_at",
        "revoked_via",
    ]
    list_filter = ["kind", "source", "revoked_via", "business"]
    search_fields = ["phone_number"]
    ordering = ["-captured_at", "-id"]
    list_select_related = ["business"]
    autocomplete_fields = ["business"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fields = [
        "business",
        "phone_number",
        "kind",
        "purposes",
        "source",
        "captured_at",
        ("relationship", "relationship_at"),
        "expires_at",
        "evidence_text",
        "evidence_url",
        "evidence_sha256",
        ("revoked_at", "revoked_via", "revoked_note"),
        ("created_at", "created_by"),
        "number_hash",
    ]
    readonly_fields = [
        "revoked_at",
        "revoked_via",
        "revoked_note",
        "created_at",
        "created_by",
        "number_hash",
    ]
    actions = ["opt_out"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            # Written once: a record that changed after the fact would prove nothing.
            return [
                name
                for entry in self.fields
                for name in (entry if isinstance(entry, tuple) else [entry])
            ]
        return super().get_readonly_fields(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description="purposes")
    def purposes_list(self, row):
        return ", ".join(row.purposes)

    @role_action(
        role=Role.OPERATOR,
        description="Record an opt-out for these numbers",
        noun="number",
        verb="opted out",
        confirm=(
            "The people at {rows} asked for no more calls: their consents are revoked, their "
            "numbers listed on the business's do-not-call list and their queued calls canceled."
        ),
        row_noun="consent",
    )
    def opt_out(self, request, queryset):
        result = ActionResult()
        pairs = queryset.exclude(phone_number=ERASED).values_list("business_id", "phone_number")
        for business_id, number in sorted(set(pairs)):
            number_opt_out(
                business_id=business_id,
                number=number,
                via=Via.ADMIN,
                reason=f"opted out, recorded by {request.user.get_username()}",
                created_by=request.user,
            )
            result.changed += 1
        return result

"""The calling rules in the admin, read-only: every rule in force with its version, limits and
sources, and a form that asks the same question the queue asks (compliance.rules.call_decision):
may this number be called for this purpose at this time, and if not, when and by which rule.
Views only; staff reach them through the admin site (calls/admin_site.py)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils import timezone

from calls.phone import to_e164
from compliance.regions import jurisdiction_name
from compliance.rules import PURPOSES, call_decision, callee_jurisdictions, region_problem, rulebook
from compliance.rules.book import PURPOSE_LABELS


class CallQuestionForm(forms.Form):
    number = forms.CharField(help_text="The callee's number, e.g. +13055550123.")
    purpose = forms.ChoiceField(
        choices=[("", "---------")] + [(p, PURPOSE_LABELS[p].capitalize()) for p in PURPOSES]
    )
    at = forms.DateTimeField(
        label="At",
        required=False,
        help_text="In your time zone; empty means now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    region = forms.CharField(
        required=False,
        help_text="The callee's address region, if known (ISO 3166-2, e.g. US-FL).",
    )

    def clean_number(self):
        try:
            return to_e164(self.cleaned_data["number"])
        except ValidationError as error:
            raise forms.ValidationError(error.messages) from error

    def clean_region(self):
        region = self.cleaned_data["region"].strip().upper()
        if region and (problem := region_problem(region)):
            raise forms.ValidationError(problem)
        return region or None


def calling_rules(request):
    """The rules in force, and the answer to the form when it was asked (GET, so an answer can be
    linked to)."""
    asked = "number" in request.GET
    form = CallQuestionForm(request.GET if asked else None)
    answer = None
    if asked and form.is_valid():
        data = form.cleaned_data
        at = data["at"] or timezone.now()
        decision = call_decision(
            number=data["number"], purpose=data["purpose"], at=at, region=data["region"]
        )
        answer = {
            "decision": decision,
            "at": at,
            "jurisdictions": [
                (jurisdiction_name(code), code, zones)
                for code, zones in callee_jurisdictions(data["number"], data["region"]).items()
            ],
        }
    context = {
        **admin.site.each_context(request),
        "title": "Calling rules",
        "rule_files": rulebook(),
        "form": form,
        "answer": answer,
        "purpose_labels": PURPOSE_LABELS,
    }
    return TemplateResponse(request, "admin/compliance/calling_rules.html", context)

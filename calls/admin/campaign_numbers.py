"""Numbers for a campaign from the browser: pasted (one per line, "number, name, region") or
uploaded as a CSV file (number, optional name, optional address region; a header row is
skipped). Each row is queued or refused with its reason, shown on the page that follows."""

import csv
import io

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse

from calls.admin.scoping import user_may
from calls.models import Campaign
from calls.services.campaign_numbers import NumberRow, campaign_numbers_add, campaign_numbers_check
from calls.tenancy import Role
from config.middleware import megabytes

NUMBERS_HELP = (
    "One number per line, optionally followed by a comma and the person's name, and by another "
    "comma and the region they live in as an ISO 3166-2 code, whose calling rules then apply too "
    '("(415) 555-0123, Ann Lee, US-FL"). Numbers without a country code are read as '
    f"{settings.DEFAULT_PHONE_REGION} numbers."
)


def number_rows_from(text: str, upload) -> list[NumberRow]:
    """The rows of the pasted text, then of the uploaded CSV file, numbered from 1."""
    rows = []
    sources = [("pasted", text or "")]
    if upload:
        try:
            sources.append(("file", upload.read().decode("utf-8-sig")))
        except UnicodeDecodeError as error:
            raise forms.ValidationError(
                "The file is not UTF-8 text (save it as CSV UTF-8)."
            ) from error
    for _, content in sources:
        lines = list(csv.reader(io.StringIO(content)))
        for k, line in enumerate(lines, start=1):
            cells = [c.strip() for c in line]
            if not cells or not cells[0]:
                continue
            # A header ("phone", "number", "name") has no digit in its first cell.
            if k == 1 and not any(ch.isdigit() for ch in cells[0]):
                continue
            name, region = (cells[1:] + ["", ""])[:2]
            rows.append(NumberRow(line=len(rows) + 1, number=cells[0], name=name, region=region))
    return rows


class NumbersField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 8, "cols": 60, "placeholder": "+14155550123, Ann Lee"})


class NumbersFormMixin:
    """The numbers of a campaign's form: `rows` once it is valid."""

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        upload = data.get("numbers_file")
        size = len((data.get("numbers") or "").encode()) + (upload.size if upload else 0)
        if size > settings.CAMPAIGN_UPLOAD_MAX_BYTES:
            # By its size, before it is read: reading and checking each row is what costs.
            raise forms.ValidationError(
                f"The numbers take {megabytes(size)}: at most "
                f"{megabytes(settings.CAMPAIGN_UPLOAD_MAX_BYTES)} at once "
                "(CAMPAIGN_UPLOAD_MAX_BYTES). Split the list."
            )
        rows = number_rows_from(data.get("numbers", ""), upload)
        if not rows:
            raise forms.ValidationError("Give at least one number: paste it or upload a file.")
        if len(rows) > settings.CAMPAIGN_UPLOAD_MAX_ROWS:
            raise forms.ValidationError(
                f"{len(rows)} rows: at most {settings.CAMPAIGN_UPLOAD_MAX_ROWS} at once "
                "(CAMPAIGN_UPLOAD_MAX_ROWS). Split the list."
            )
        checked = campaign_numbers_check(rows=rows)
        if all(o.refused for o in checked):
            reasons = [f"Row {o.row.line}: {o.refused}" for o in checked[:10]]
            raise forms.ValidationError(["No number can be called."] + reasons)
        self.rows = rows
        return data


class NumbersForm(NumbersFormMixin, forms.Form):
    numbers = NumbersField(required=False, help_text=NUMBERS_HELP)
    numbers_file = forms.FileField(
        required=False, help_text="Or a CSV file: number, then an optional name."
    )


class CampaignAddForm(NumbersFormMixin, forms.ModelForm):
    """A new campaign comes with its numbers, so no campaign starts empty (an empty one would
    never end: a campaign ends when it has requests and none is open)."""

    numbers = NumbersField(required=False, help_text=NUMBERS_HELP)
    numbers_file = forms.FileField(
        required=False, help_text="Or a CSV file: number, then an optional name."
    )

    class Meta:
        model = Campaign
        fields = []

    def clean(self):
        business = self.cleaned_data.get("business")
        if business is not None and not business.can_dial:
            why = business.paused_reason or "it is inactive"
            raise forms.ValidationError(f"{business.name} cannot dial now ({why}).")
        return super().clean()


def numbers_result(request, model_admin, campaign, outcomes) -> TemplateResponse:
    refused = [o for o in outcomes if o.refused]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Numbers for {campaign.name}",
        "opts": model_admin.model._meta,
        "campaign": campaign,
        "queued": len(outcomes) - len(refused),
        "refused": refused,
    }
    return TemplateResponse(request, "admin/calls/campaign/numbers_result.html", context)


def campaign_numbers_view(request, model_admin, object_id):
    """Adds numbers to an existing campaign: operators of its business."""
    campaign = get_object_or_404(model_admin.get_queryset(request), pk=object_id)
    if not user_may(request.user, Role.OPERATOR, campaign.business_id):
        raise PermissionDenied
    form = NumbersForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        outcomes = campaign_numbers_add(campaign=campaign, rows=form.rows)
        return numbers_result(request, model_admin, campaign, outcomes)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Add numbers to {campaign.name}",
        "opts": model_admin.model._meta,
        "campaign": campaign,
        "form": form,
    }
    return TemplateResponse(request, "admin/calls/campaign/numbers.html", context)

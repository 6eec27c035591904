"""Do-not-call lists: managers add and remove their business's numbers, one by one or from a CSV
file; the rows for every business (no business) are for superusers only; any member exports
what it may see."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.urls import path

from calls.admin.exports import CsvExport, cell
from calls.admin.scoping import ScopedAdmin, counted, user_may
from calls.admin.search import NumberSearch
from calls.phone import to_e164
from calls.services.action_log import operator_action_record
from calls.services.do_not_call import (
    IMPORT_MAX_BYTES,
    ImportRefused,
    do_not_call_export_lines,
    do_not_call_import,
    do_not_call_rows,
)
from calls.tenancy import Membership, Role, businesses_for, is_superuser
from compliance.models import DoNotCall
from compliance.opt_outs import Via, number_opt_out


class DoNotCallForm(forms.ModelForm):
    # Typed as people write it ("+1 (415) 555-0123"), stored in E.164 (16 characters at most).
    phone_number = forms.CharField(max_length=64, help_text="E.164, e.g. +14155550123.")

    class Meta:
        model = DoNotCall
        fields = ["business", "phone_number", "reason"]

    def clean_phone_number(self):
        return to_e164(self.cleaned_data["phone_number"])


class DoNotCallImportForm(forms.Form):
    business = forms.ModelChoiceField(
        queryset=None,
        help_text="The business whose list the numbers join.",
    )
    file = forms.FileField(
        help_text=(
            "CSV, UTF-8: the number, then an optional reason; a header row is skipped. An "
            "export of this list imports as it is."
        )
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["business"]
        field.queryset = businesses_for(user, Role.MANAGER).order_by("name")
        # The user's own business comes chosen: listing a number for every business is a
        # superuser's deliberate choice, never the default.
        own = Membership.objects.filter(user=user, business__in=field.queryset)
        field.initial = (
            own.order_by("business__name").values_list("business_id", flat=True).first()
            or field.queryset.values_list("pk", flat=True).first()
        )
        if is_superuser(user):
            field.required = False
            field.empty_label = "Every business"
            field.help_text += " Empty: no business may call them."

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > IMPORT_MAX_BYTES:
            raise ValidationError(f"The file is larger than {IMPORT_MAX_BYTES} bytes: split it.")
        try:
            rows = do_not_call_rows(upload.read())
        except ImportRefused as error:
            raise ValidationError(str(error)) from error
        if not rows:
            raise ValidationError("The file holds no number.")
        self.rows = rows
        return upload


@admin.register(DoNotCall)
class DoNotCallAdmin(NumberSearch, CsvExport, ScopedAdmin):
    add_role = change_role = delete_role = Role.MANAGER
    readonly_on_change = ("business", "phone_number")
    form = DoNotCallForm
    list_display = ["phone_number", "listed_by", "reason", "created_at", "created_by"]
    list_filter = ["business", "created_at"]
    search_fields = ["phone_number", "reason"]
    ordering = ["-created_at", "-id"]
    list_select_related = ["business", "created_by", "source_call"]
    autocomplete_fields = ["business"]
    readonly_fields = ["created_at", "created_by", "source_call_sid"]
    fields = ["business", "phone_number", "reason", "created_at", "created_by", "source_call_sid"]
    change_list_template = "admin/calls/donotcall/change_list.html"
    export_noun = "number"

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if "business" in form.base_fields and not is_superuser(request.user):
            # An empty business lists the number for every business: superusers only.
            form.base_fields["business"].required = True
        return form

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if not change and obj.business_id:
            # A person asking a business not to call is a revocation (47 CFR 64.1200(a)(10)):
            # their consents go and their queued calls are canceled, whoever types it in.
            number_opt_out(
                business_id=obj.business_id,
                number=obj.phone_number,
                via=Via.ADMIN,
                reason=obj.reason,
                created_by=request.user,
            )

    @admin.display(description="business", ordering="business__name")
    def listed_by(self, row):
        return row.business.name if row.business_id else "Every business"

    @admin.display(description="opted out during call")
    def source_call_sid(self, row):
        return (row.source_call.call_sid or row.source_call.pk) if row.source_call_id else "-"

    def get_urls(self):
        view = self.admin_site.admin_view(self.import_view)
        return [path("import/", view, name="compliance_donotcall_import")] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        may_import = user_may(request.user, Role.MANAGER, anywhere=True)
        return super().changelist_view(request, {"may_import": may_import, **(extra_context or {})})

    def import_view(self, request):
        if not user_may(request.user, Role.MANAGER, anywhere=True):
            raise PermissionDenied
        form = DoNotCallImportForm(request.POST or None, request.FILES or None, user=request.user)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta}
        if request.method == "POST" and form.is_valid():
            business = form.cleaned_data["business"]
            result = do_not_call_import(
                business_id=business.pk if business else None,
                rows=form.rows,
                created_by=request.user,
            )
            if business:
                operator_action_record(
                    user=request.user,
                    business_id=business.pk,
                    action="import_do_not_call",
                    description="Import do-not-call numbers",
                    target=self.model._meta.label_lower,
                    row_ids=[],
                    summary=f"{counted(len(form.rows), 'row')} imported: {result.summary()}",
                )
            context.update(title="Do-not-call numbers imported", result=result, business=business)
            return TemplateResponse(request, "admin/calls/donotcall/import_result.html", context)
        context.update(title="Import do-not-call numbers", form=form)
        return TemplateResponse(request, "admin/calls/donotcall/import.html", context)

    def _export_lines(self, rows):
        for line in do_not_call_export_lines(rows):
            yield [cell(value) for value in line]

    def _export_record(self, request, rows):
        # An action is recorded per business; the rows for every business belong to none.
        super()._export_record(request, rows.filter(business__isnull=False))

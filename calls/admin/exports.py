"""CSV export of a list as it is filtered and searched, and as the user may see it (the list's own
queryset, so scoped by membership), within EXPORT_MAX_ROWS, recorded like any operator action:
who exported which rows, once per business."""

import csv
from collections import defaultdict

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone

from calls.admin.scoping import counted
from calls.services.action_log import operator_action_record

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "@", "\t", "\r", "+", "-")


def cell(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = str(value)
    # A number ("+14155550123", "-3") stays as it is; anything else that could run is quoted.
    if text.startswith(FORMULA_STARTS) and not text.lstrip("+-").replace(".", "").isdigit():
        return "'" + text
    return text


class Echo:
    def write(self, value):
        return value


class CsvExport:
    """For a ScopedAdmin: `export_columns` is [(header, attribute or callable(row))]; the list
    gets an "Export CSV" link that keeps its filters and search."""

    export_columns: list = []
    export_noun = "row"
    change_list_template = "admin/calls/change_list_export.html"

    def get_urls(self):
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}_export"
        urls = [path("export/", self.admin_site.admin_view(self.export_view), name=name)]
        return urls + super().get_urls()

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        opts = self.model._meta
        back = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        query = request.GET.urlencode()
        try:
            rows = self.get_changelist_instance(request).get_queryset(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(back)
        count = rows.count()
        if count > settings.EXPORT_MAX_ROWS:
            self.message_user(
                request,
                f"Refused: {counted(count, self.export_noun)} match, and an export holds at "
                f"most {settings.EXPORT_MAX_ROWS} (EXPORT_MAX_ROWS). Narrow the list with a "
                "filter, a date or a search, then export again.",
                messages.ERROR,
            )
            return HttpResponseRedirect(f"{back}?{query}" if query else back)
        rows = self.export_queryset(rows)
        self._export_record(request, rows)
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        writer = csv.writer(Echo())
        lines = (writer.writerow(line) for line in self._export_lines(rows))
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        filename = f"{opts.verbose_name_plural.replace(' ', '-')}-{stamp}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def export_queryset(self, rows):
        """The rows to export, with whatever their columns read beside the list's own."""
        return rows

    def _export_lines(self, rows):
        yield [header for header, _ in self.export_columns]
        for row in rows.iterator(chunk_size=500):
            yield [
                cell(get(row) if callable(get) else getattr(row, get))
                for _, get in self.export_columns
            ]

    def _export_record(self, request, rows) -> None:
        path_ = "pk" if self.business_path == "pk" else f"{self.business_path}_id"
        by_business = defaultdict(list)
        for pk, business_id in rows.values_list("pk", path_):
            by_business[business_id].append(pk)
        for business_id, ids in sorted(by_business.items()):
            operator_action_record(
                user=request.user,
                business_id=business_id,
                action="export_csv",
                description="Export as CSV",
                target=self.model._meta.label_lower,
                row_ids=ids,
                summary=f"{counted(len(ids), self.export_noun)} exported as CSV.",
            )

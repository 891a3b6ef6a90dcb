"""Admin for ad spend: the import records (with the backfill page) and the report (with CSV).

Both are scoped to the person's projects like every admin page: viewers read, operators
and admins of a project may backfill its ad accounts (POST, CSRF-checked by the admin).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from integrations.access import Role, has_any_project_role, has_project_role, project_ids_with_role
from integrations.admetrics import charts, conf, selectors, services
from integrations.admetrics.forms import BackfillForm, ReportFilterForm
from integrations.admetrics.models import AdDailyMetric, AdInsightImport
from integrations.admin_base import SystemWrittenAdmin

# A spreadsheet runs a cell that starts with one of these as a formula (ad names are free text).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@admin.register(AdInsightImport)
class AdInsightImportAdmin(SystemWrittenAdmin):
    change_list_template = "admin/admetrics/adinsightimport/change_list.html"
    list_display = [
        "created_at",
        "ad_account",
        "kind",
        "date_range",
        "status",
        "rows",
        "problem",
    ]
    list_filter = ["status", "kind", "project"]
    list_select_related = ["project"]
    search_fields = ["ad_account_id", "ad_account_name", "report_run_id"]
    fields = [
        "project",
        "ad_account_id",
        "ad_account_name",
        "kind",
        "since",
        "until",
        "status",
        "method",
        "report_run_id",
        "rows_read",
        "inserted",
        "updated",
        "unchanged",
        "ad_sets_read",
        "graph_calls",
        "error_kind",
        "error_message",
        "error_fix",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields

    @admin.display(description="Ad account")
    def ad_account(self, record: AdInsightImport) -> str:
        return f"{record.project.name}: {record.ad_account_name or record.ad_account_id}"

    @admin.display(description="Days")
    def date_range(self, record: AdInsightImport) -> str:
        return f"{record.since} to {record.until} ({record.days} d)"

    @admin.display(description="Rows read")
    def rows(self, record: AdInsightImport) -> str:
        if record.status in (AdInsightImport.Status.QUEUED, AdInsightImport.Status.SKIPPED):
            return "-"
        return f"{record.rows_read}: {record.inserted} new, {record.updated} revised, {record.unchanged} unchanged"

    @admin.display(description="Problem and fix")
    def problem(self, record: AdInsightImport) -> str:
        if not record.error_message:
            return ""
        return format_html("{}<br><small>{}</small>", record.error_message, record.error_fix)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("backfill/", wrap(self.backfill_view), name="admetrics_adinsightimport_backfill"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_backfill": has_any_project_role(request.user, Role.OPERATOR)}
        return super().changelist_view(request, extra_context)

    def backfill_view(self, request: HttpRequest) -> HttpResponse:
        if not has_any_project_role(request.user, Role.OPERATOR):
            raise PermissionDenied("Operators and admins of a project may backfill its ad spend.")
        project_ids = project_ids_with_role(request.user, Role.OPERATOR)
        initial = {"connection": request.GET.get("connection")} if request.GET.get("connection") else {}
        today = timezone.localdate()
        initial.update(since=services.daily_range(today=today)[0], until=services.daily_range(today=today)[1])
        form = BackfillForm(request.POST or None, initial=initial, project_ids=project_ids)
        if request.method == "POST" and form.is_valid():
            connection = form.cleaned_data["connection"]
            if not has_project_role(request.user, connection.project_id, Role.OPERATOR):
                raise PermissionDenied("Your role in this project does not allow this.")
            try:
                record = services.insights_backfill_request(
                    connection=connection,
                    since=form.cleaned_data["since"],
                    until=form.cleaned_data["until"],
                    user=request.user,
                    request=request,
                )
            except services.BackfillRefused as refusal:
                form.add_error(None, str(refusal))
            else:
                self.message_user(
                    request,
                    f"Backfill of {record.days} days queued for {record.ad_account_id}; this page shows how it went.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:admetrics_adinsightimport_change", args=[record.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Backfill ad spend",
            "form": form,
            "opts": self.model._meta,
            "async_min_days": conf.async_min_days(),
            "trailing_days": conf.trailing_days(),
        }
        return TemplateResponse(request, "admin/admetrics/backfill.html", context)


@admin.register(AdDailyMetric)
class AdSpendReportAdmin(SystemWrittenAdmin):
    """The changelist is the report: sums by day, campaign, ad set or ad, chart and CSV."""

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("export.csv", wrap(self.export_csv_view), name="admetrics_addailymetric_export_csv"),
            *super().get_urls(),
        ]

    def _report_form(self, request: HttpRequest) -> ReportFilterForm:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return ReportFilterForm(
            request.GET, project_ids=project_ids_with_role(request.user, Role.VIEWER), today=timezone.localdate()
        )

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        form = self._report_form(request)
        report = chart = None
        if form.is_valid():
            filters = form.filters()
            report = selectors.metrics_report(filters=filters, group_by=form.cleaned_data["group_by"])
            chart_currency = filters.currency or (report.currencies[0] if report.currencies else "")
            if chart_currency:
                points = selectors.daily_series(filters=filters, currency=chart_currency)
                chart = charts.spend_chart(
                    points=points, currency=chart_currency, since=filters.since, until=filters.until
                )
        query = request.GET.copy()
        query.pop("currency", None)
        context = {
            **self.admin_site.each_context(request),
            **(extra_context or {}),
            "title": "Ad spend report",
            "opts": self.model._meta,
            "form": form,
            "report": report,
            "chart": chart,
            "query_without_currency": query.urlencode(),
            "querystring": request.GET.urlencode(),
            "max_lines": selectors.REPORT_MAX_LINES,
            "imports": selectors.latest_imports(project_ids=project_ids_with_role(request.user, Role.VIEWER)),
        }
        return TemplateResponse(request, "admin/admetrics/report.html", context)

    def export_csv_view(self, request: HttpRequest) -> HttpResponse:
        form = self._report_form(request)
        if not form.is_valid():
            return HttpResponse(f"Invalid filters: {form.errors.as_text()}", status=400, content_type="text/plain")
        report = selectors.metrics_report(filters=form.filters(), group_by=form.cleaned_data["group_by"])
        response = StreamingHttpResponse(report_csv_lines(report), content_type="text/csv; charset=utf-8")
        stamp = datetime.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="ad-spend-{report.group_by}-{stamp}.csv"'
        return response


# --- CSV -----------------------------------------------------------------------------------------------------

LABEL_COLUMNS = {
    selectors.GroupBy.DAY: [("Day", "day")],
    selectors.GroupBy.CAMPAIGN: [("Ad account", "ad_account_id"), ("Campaign id", "campaign_id"),
                                 ("Campaign", "campaign_name")],
    selectors.GroupBy.ADSET: [("Ad account", "ad_account_id"), ("Campaign", "campaign_name"),
                              ("Ad set id", "adset_id"), ("Ad set", "adset_name"), ("Cohorts", "cohorts")],
    selectors.GroupBy.AD: [("Ad account", "ad_account_id"), ("Campaign", "campaign_name"), ("Ad set", "adset_name"),
                           ("Cohorts", "cohorts"), ("Ad id", "ad_id"), ("Ad", "ad_name")],
}  # fmt: skip
FIGURE_COLUMNS = ["Currency", "Spend", "Impressions", "Clicks", "CPM", "CPC", "CTR %"]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: object) -> str:
    if value is None:
        return ""  # a ratio without a denominator (the page shows "-")
    if isinstance(value, list):
        value = "; ".join(str(item) for item in value)
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _figures(sums: selectors.Sums) -> list[str]:
    return [_cell(v) for v in (sums.currency, sums.spend_shown, sums.impressions, sums.clicks, sums.cpm, sums.cpc,
                               sums.ctr)]  # fmt: skip


def report_csv_lines(report: selectors.Report) -> Iterator[str]:
    """The report's table: one line per row, then one total per currency."""
    columns = LABEL_COLUMNS[selectors.GroupBy(report.group_by)]
    writer = csv.writer(_Echo())
    yield writer.writerow([title for title, _ in columns] + FIGURE_COLUMNS)
    for line in report.lines:
        yield writer.writerow([_cell(getattr(line, name)) for _, name in columns] + _figures(line))
    for total in report.totals:
        yield writer.writerow(["Total"] + [""] * (len(columns) - 1) + _figures(total))

"""The audit review: read-only, scoped to the person's projects, filterable, exportable as CSV.

Filters: project and person (only those of the person's own projects), action, and
date (the date drill-down, the usual "past 7 days" choices, or any range through
`created_at__gte` / `created_at__lt` in the address). "Export CSV" downloads exactly
the rows the current filters show.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

from django.contrib import admin
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import path
from django.utils import timezone

from integrations.access import Role, project_ids_with_role
from integrations.admin_base import SystemWrittenAdmin
from integrations.audit import AuditActions
from integrations.connections import ConnectionAuditActions
from integrations.models import AuditEvent, Project

CSV_COLUMNS = [
    "created_at",
    "actor_label",
    "project_label",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "changes",
    "ip_address",
]
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def known_actions() -> list[str]:
    actions = {
        value
        for holder in (AuditActions, ConnectionAuditActions)
        for name, value in vars(holder).items()
        if name.isupper() and isinstance(value, str)
    }
    return sorted(actions)


class ProjectFilter(admin.SimpleListFilter):
    """Only the projects the person is a member of (Django's default would list every one)."""

    title = "project"
    parameter_name = "project__id__exact"

    def lookups(self, request, model_admin):
        ids = project_ids_with_role(request.user, Role.VIEWER)
        projects = Project.objects.all() if ids is None else Project.objects.filter(pk__in=ids)
        return [(str(p.pk), p.name) for p in projects.order_by("name")]

    def queryset(self, request, queryset):
        return queryset.filter(project_id=self.value()) if self.value() else queryset


class PersonFilter(admin.SimpleListFilter):
    title = "person"
    parameter_name = "actor_label"

    def lookups(self, request, model_admin):
        labels = (
            model_admin.get_queryset(request).order_by().values_list("actor_label", flat=True).distinct()[:200]
        )
        return [(label, label) for label in sorted(set(labels)) if label]

    def queryset(self, request, queryset):
        return queryset.filter(actor_label=self.value()) if self.value() else queryset


class ActionFilter(admin.SimpleListFilter):
    title = "action"
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return [(action, action) for action in known_actions()]

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(SystemWrittenAdmin):
    change_list_template = "admin/integrations/auditevent/change_list.html"
    list_display = ["created_at", "actor_label", "project_label", "action", "target_label", "changes", "ip_address"]
    list_filter = [ProjectFilter, PersonFilter, ActionFilter, ("created_at", admin.DateFieldListFilter)]
    search_fields = ["actor_label", "target_label", "action"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "created_at",
        "actor",
        "actor_label",
        "project",
        "project_label",
        "action",
        "target_type",
        "target_id",
        "target_label",
        "changes",
        "ip_address",
    ]

    def get_urls(self):
        return [
            path(
                "export.csv",
                self.admin_site.admin_view(self.export_csv_view),
                name="integrations_auditevent_export_csv",
            ),
            *super().get_urls(),
        ]

    def export_csv_view(self, request: HttpRequest) -> StreamingHttpResponse:
        """The changelist's rows under the same filters, as CSV."""
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        rows = changelist.get_queryset(request).order_by("-created_at", "-id")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response = StreamingHttpResponse(_csv_lines(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
        return response


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True)
    elif hasattr(value, "isoformat"):
        text = value.isoformat()
    else:
        text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _csv_lines(rows) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for event in rows.iterator(chunk_size=2000):
        yield writer.writerow([_cell(getattr(event, column)) for column in CSV_COLUMNS])

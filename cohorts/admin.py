"""Admin of the cohorts app: cohorts with their members' state, Amplitude quota, CSV upload,
the key-quality preview, and the records the system writes (imports, usage, members)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join

from cohorts.errors import CohortError
from cohorts.forms import CsvUploadForm, ProjectChoiceForm
from cohorts.models import AmplitudeListStatus, AmplitudeUsage, Cohort, CohortImport, CohortMember
from cohorts.selectors import amplitude_usage_this_month, cohort_key_quality, cohort_last_import
from cohorts.services import cohort_csv_import, cohorts_sync_from_amplitude
from integrations.access import Role, has_project_role, project_ids_with_role
from integrations.admin_base import ProjectScopedAdmin, SystemWrittenAdmin
from integrations.key_mappings import project_key_plan
from integrations.models import Project

MAX_PROJECTS_IN_HEADER = 50


def _enqueue_refresh(*, cohort_id: int, force: bool, user_id: int | None) -> None:
    """Downloads take minutes for big cohorts: a worker does them, never the web request."""
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task(
            "cohorts.tasks.cohort_members_refresh_task",
            cohort_id,
            force,
            user_id,
            task_name=f"cohort-refresh-{cohort_id}",
        )
    )


@admin.register(Cohort)
class CohortAdmin(ProjectScopedAdmin):
    list_display = [
        "name",
        "project",
        "source",
        "size",
        "members_count",
        "members_skipped",
        "last_computed",
        "members_refreshed_at",
        "last_import_status",
        "archived",
    ]
    list_filter = ["source", "archived", "project"]
    list_select_related = ["project"]
    search_fields = ["name", "amplitude_cohort_id", "project__name"]
    actions = ["refresh_members", "refresh_members_force", "preview_key_quality", "refresh_lists"]
    readonly_fields = [
        "project",
        "source",
        "amplitude_cohort_id",
        "size",
        "last_computed",
        "last_computed_marker",
        "members_count",
        "members_skipped",
        "skipped_reasons",
        "members_refreshed_at",
        "members_source_marker",
        "members_mapping_fingerprint",
        "recent_imports",
    ]
    fields = ["name", "description", "archived", *readonly_fields]

    # --- lists -------------------------------------------------------------------------------
    def get_queryset(self, request: HttpRequest) -> QuerySet[Cohort]:
        newest = CohortImport.objects.filter(cohort=OuterRef("pk")).order_by("-started_at", "-id")
        return super().get_queryset(request).annotate(_last_import_status=Subquery(newest.values("status")[:1]))

    @admin.display(description="Last refresh")
    def last_import_status(self, obj: Cohort) -> str:
        status = getattr(obj, "_last_import_status", None)
        return CohortImport.Status(status).label if status else "never"

    @admin.display(description="Skipped, by reason")
    def skipped_reasons(self, obj: Cohort) -> str:
        reasons = obj.members_skipped_reasons or {}
        return ", ".join(f"{reason}: {count:,}" for reason, count in sorted(reasons.items())) or "none"

    @admin.display(description="Recent refreshes")
    def recent_imports(self, obj: Cohort) -> str:
        rows = CohortImport.objects.filter(cohort=obj).order_by("-started_at", "-id")[:5]
        if not rows:
            return "none yet"
        return format_html(
            "<table><tr><th>Started</th><th>Status</th><th>Read</th><th>Kept</th><th>Rejected</th>"
            "<th>Added</th><th>Removed</th><th>Error and fix</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                "<td>{}</td><td>{} {}</td></tr>",
                (
                    (
                        reverse("admin:cohorts_cohortimport_change", args=[row.pk]),
                        f"{row.started_at:%Y-%m-%d %H:%M}",
                        row.get_status_display(),
                        row.rows_read,
                        row.rows_kept,
                        row.rows_rejected,
                        row.members_added,
                        row.members_removed,
                        row.error_message,
                        row.error_fix,
                    )
                    for row in rows
                ),
            ),
        )

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {**(extra_context or {}), **self._project_panels(request)}
        extra_context["can_operate"] = self.has_change_permission(request)
        return super().changelist_view(request, extra_context)

    def _project_panels(self, request: HttpRequest) -> dict:
        """Per visible project: downloads used this month, and the last list refresh's outcome."""
        ids = project_ids_with_role(request.user, Role.VIEWER)
        projects = Project.objects.order_by("name")
        if ids is not None:
            projects = projects.filter(pk__in=ids)
        projects = list(projects[:MAX_PROJECTS_IN_HEADER])
        usage = amplitude_usage_this_month(project_ids=[p.pk for p in projects])
        statuses = {s.project_id: s for s in AmplitudeListStatus.objects.filter(project__in=projects)}
        return {
            "amplitude_panels": [
                {"project": p, "usage": usage[p.pk], "list_status": statuses.get(p.pk)} for p in projects
            ]
        }

    # --- change page ---------------------------------------------------------------------------
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # cohorts come from Amplitude's list or a CSV upload (object tools)

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        cohort = self.get_object(request, object_id)
        extra_context["key_quality_url"] = reverse("admin:cohorts_cohort_key_quality", args=[cohort.pk])
        extra_context["sync_url"] = _sync_create_url(cohort)
        return super().change_view(request, object_id, form_url, extra_context)

    # --- actions -----------------------------------------------------------------------------
    def _operable(self, request: HttpRequest, queryset: QuerySet[Cohort]) -> list[Cohort]:
        cohorts = list(queryset.select_related("project"))
        allowed = [c for c in cohorts if has_project_role(request.user, c.project_id, Role.OPERATOR)]
        if len(allowed) < len(cohorts):
            self.message_user(
                request, f"{len(cohorts) - len(allowed)} cohort(s) skipped: your role does not allow it.",
                messages.WARNING,
            )
        return allowed

    def _refresh(self, request: HttpRequest, queryset: QuerySet[Cohort], *, force: bool) -> None:
        cohorts = self._operable(request, queryset)
        from_amplitude = [c for c in cohorts if c.source == Cohort.Source.AMPLITUDE]
        for cohort in from_amplitude:
            _enqueue_refresh(cohort_id=cohort.pk, force=force, user_id=request.user.pk)
        if len(from_amplitude) < len(cohorts):
            self.message_user(request, "CSV cohorts change only with a new upload.", messages.INFO)
        if from_amplitude:
            note = "" if force else " (skipped where Amplitude has not recomputed the cohort)"
            self.message_user(
                request,
                f"Member refresh queued for {len(from_amplitude)} cohort(s){note}; results appear under "
                f"'Last refresh'.",
                messages.SUCCESS,
            )

    @admin.action(description="Refresh members from Amplitude (only when changed)", permissions=["change"])
    def refresh_members(self, request: HttpRequest, queryset: QuerySet[Cohort]) -> None:
        self._refresh(request, queryset, force=False)

    @admin.action(description="Download members again now (uses a monthly download each)", permissions=["change"])
    def refresh_members_force(self, request: HttpRequest, queryset: QuerySet[Cohort]) -> None:
        self._refresh(request, queryset, force=True)

    @admin.action(description="Preview key quality")
    def preview_key_quality(self, request: HttpRequest, queryset: QuerySet[Cohort]):
        cohort = queryset.first()
        if queryset.count() != 1 or cohort is None:
            self.message_user(request, "Choose one cohort to preview.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:cohorts_cohort_key_quality", args=[cohort.pk]))

    @admin.action(
        description="Refresh the cohort list from Amplitude (these cohorts' projects)", permissions=["change"]
    )
    def refresh_lists(self, request: HttpRequest, queryset: QuerySet[Cohort]) -> None:
        projects = {c.project_id: c.project for c in self._operable(request, queryset)}
        for project in projects.values():
            self._list_refresh(request, project)

    def _list_refresh(self, request: HttpRequest, project: Project) -> None:
        try:
            result = cohorts_sync_from_amplitude(project=project)
        except CohortError as error:
            self.message_user(request, f"{project}: {error} {error.fix}", messages.ERROR)
        else:
            self.message_user(
                request,
                f"{project}: {result.seen} cohorts in Amplitude ({result.created} new, {result.updated} updated, "
                f"{result.archived} no longer listed).",
                messages.SUCCESS,
            )

    # --- extra pages ---------------------------------------------------------------------------
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("upload-csv/", wrap(self.csv_upload_view), name="cohorts_cohort_upload_csv"),
            path("refresh-list/", wrap(self.refresh_list_view), name="cohorts_cohort_refresh_list"),
            path("<int:cohort_id>/key-quality/", wrap(self.key_quality_view), name="cohorts_cohort_key_quality"),
            *super().get_urls(),
        ]

    def _page(self, request: HttpRequest, template: str, title: str, **context) -> TemplateResponse:
        context = {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta, **context}
        return TemplateResponse(request, template, context)

    def csv_upload_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        project_ids = project_ids_with_role(request.user, Role.OPERATOR)
        form = CsvUploadForm(request.POST or None, request.FILES or None, project_ids=project_ids)
        record = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            upload = data["file"]
            try:
                record = cohort_csv_import(
                    project=data["project"],
                    file=upload,
                    file_name=upload.name,
                    name=data["name"].strip() or None,
                    cohort=data["cohort"],
                    user=request.user,
                )
            except CohortError as error:
                form.add_error(None, f"{error} {error.fix}")
            else:
                self.message_user(
                    request,
                    f"{record.cohort}: {record.rows_kept:,} rows kept, {record.rows_rejected:,} rejected "
                    f"({record.members_after:,} members).",
                    messages.SUCCESS if not record.rows_rejected else messages.WARNING,
                )
        return self._page(request, "admin/cohorts/cohort/csv_upload.html", "Upload a cohort as CSV",
                          form=form, record=record)

    def refresh_list_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = ProjectChoiceForm(request.POST or None, project_ids=project_ids_with_role(request.user, Role.OPERATOR))
        if request.method == "POST" and form.is_valid():
            self._list_refresh(request, form.cleaned_data["project"])
            return HttpResponseRedirect(
                reverse("admin:cohorts_cohort_changelist") + f"?project__id__exact={form.cleaned_data['project'].pk}"
            )
        return self._page(request, "admin/cohorts/cohort/refresh_list.html", "Refresh the cohort list from Amplitude",
                          form=form)

    def key_quality_view(self, request: HttpRequest, cohort_id: int) -> HttpResponse:
        cohort = get_object_or_404(self.get_queryset(request).select_related("project"), pk=cohort_id)
        can_operate = has_project_role(request.user, cohort.project_id, Role.OPERATOR)
        report = cohort_key_quality(cohort=cohort)
        if request.method == "POST":
            if not can_operate:
                raise PermissionDenied
            if cohort.source != Cohort.Source.AMPLITUDE:
                return HttpResponseNotAllowed(["GET"])
            _enqueue_refresh(cohort_id=cohort.pk, force=report is None, user_id=request.user.pk)
            self.message_user(request, "Refresh queued: the figures update when it has finished.", messages.SUCCESS)
            return HttpResponseRedirect(request.path)
        plan = project_key_plan(cohort.project)
        last = cohort_last_import(cohort=cohort, with_members=True)
        return self._page(
            request,
            "admin/cohorts/cohort/key_quality.html",
            f"Key quality of {cohort.name}",
            cohort=cohort,
            report=report,
            plan=plan,
            last_import=last,
            can_operate=can_operate and cohort.source == Cohort.Source.AMPLITUDE,
            usage=amplitude_usage_this_month(project_ids=[cohort.project_id])[cohort.project_id],
        )


def _sync_create_url(cohort: Cohort) -> str | None:
    try:
        return reverse("admin:syncs_syncjob_create") + f"?cohort={cohort.pk}"
    except NoReverseMatch:
        return None


@admin.register(CohortImport)
class CohortImportAdmin(SystemWrittenAdmin):
    project_path = "cohort__project"
    list_display = [
        "cohort",
        "source",
        "status",
        "started_at",
        "rows_read",
        "rows_kept",
        "rows_rejected",
        "members_added",
        "members_removed",
        "error_code",
    ]
    list_filter = ["status", "source", "cohort__project"]
    list_select_related = ["cohort"]
    search_fields = ["cohort__name", "file_name", "request_id"]
    date_hierarchy = "started_at"


@admin.register(AmplitudeUsage)
class AmplitudeUsageAdmin(SystemWrittenAdmin):
    list_display = ["project", "month", "download_requests", "other_requests"]
    list_filter = ["project"]
    list_select_related = ["project"]


@admin.register(AmplitudeListStatus)
class AmplitudeListStatusAdmin(SystemWrittenAdmin):
    list_display = ["project", "attempted_at", "succeeded_at", "cohorts_seen", "error_message"]
    list_select_related = ["project"]


@admin.register(CohortMember)
class CohortMemberAdmin(SystemWrittenAdmin):
    """Members as uploaded (hashes): for checking counts, never personal data."""

    project_path = "cohort__project"
    list_display = ["cohort", "row_hash"]
    list_select_related = ["cohort"]
    list_filter = ["cohort__project"]
    readonly_fields = ["cohort", "row_hash", "row"]

"""Admin for sync jobs (with their buttons), runs, batches and the audience ledger."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from integrations.access import Role, has_project_role, is_superuser, project_ids_with_role
from integrations.admin_base import ProjectScopedAdmin, SystemWrittenAdmin
from syncs import services, views
from syncs.forms import SyncCreateForm, SyncDeleteForm
from syncs.models import AdAccountThrottle, AudienceMember, SyncBatch, SyncJob, SyncRun
from syncs.selectors import (
    MATCHING_DELAY_NOTE,
    audience_size_label,
    job_charts,
    job_runs_page,
    run_progress,
)

__all__ = ["MATCHING_DELAY_NOTE", "audience_size_label"]  # other modules import them from here


class BoundedCountPaginator(Paginator):
    """Counts at most COUNT_CAP rows: on a ledger of millions, "x results" costs a full scan.

    The changelist shows "more than 10,000" and pages through the first 10,000; filters
    narrow the rest (pagination.html of this app reads `capped`).
    """

    COUNT_CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.COUNT_CAP + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.COUNT_CAP


class ProjectJobFilter(admin.SimpleListFilter):
    """The person's own jobs only (Django's related filter would list every project's)."""

    title = "sync job"
    parameter_name = "job__id__exact"
    MAX_CHOICES = 200

    def lookups(self, request, model_admin):
        ids = project_ids_with_role(request.user, Role.VIEWER)
        jobs = SyncJob.objects.select_related("cohort").only("id", "audience_name", "cohort__name")
        if ids is not None:
            jobs = jobs.filter(cohort__project_id__in=ids)
        return [(str(job.pk), job.audience_name) for job in jobs.order_by("audience_name", "id")[: self.MAX_CHOICES]]

    def queryset(self, request, queryset):
        return queryset.filter(job_id=self.value()) if self.value() else queryset


class PresenceFilter(admin.SimpleListFilter):
    """In the audience or removed, written so the (job, present) index serves it.

    Django writes `present=False` as `NOT present`, which SQLite cannot answer from an
    index; `present IN (false)` it can.
    """

    title = "in the audience"
    parameter_name = "present__exact"

    def lookups(self, request, model_admin):
        return [("1", "In the audience"), ("0", "Removed")]

    def queryset(self, request, queryset):
        if self.value() in {"0", "1"}:
            return queryset.filter(present__in=[self.value() == "1"])
        return queryset


@admin.register(SyncJob)
class SyncJobAdmin(ProjectScopedAdmin):
    project_path = "cohort__project"
    change_form_template = "admin/syncs/syncjob/change_form.html"
    change_list_template = "admin/syncs/syncjob/change_list.html"
    list_display = [
        "audience_name",
        "cohort",
        "connection",
        "cadence",
        "status",
        "enabled",
        "audience_size",
        "last_success_at",
        "next_run_at",
    ]
    list_filter = ["status", "cadence", "enabled", "cohort__project"]
    list_select_related = ["cohort", "connection", "connection__project"]
    search_fields = ["audience_name", "audience_id", "cohort__name"]
    fieldsets = [
        ("What is synced where", {"fields": ["cohort", "connection", "audience_name", "audience_id", "mode"]}),
        ("When", {"fields": ["cadence", "cron_expression", "enabled", "last_run_at", "last_success_at",
                             "next_run_at"]}),
        ("State", {"fields": ["status", "status_reason", "status_fix", "audience_size", "created_by"]}),
    ]
    readonly_fields = [
        "cohort",
        "connection",
        "audience_id",
        "cadence",
        "cron_expression",
        "enabled",
        "status",
        "status_reason",
        "status_fix",
        "audience_size",
        "next_run_at",
        "last_run_at",
        "last_success_at",
        "created_by",
    ]

    @admin.display(description="Audience size")
    def audience_size(self, job: SyncJob) -> str:
        return audience_size_label(job.audience_lower_bound, job.audience_upper_bound)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs are created through "Sync to Facebook" (sync_create_view)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # deleting asks whether to delete the audience too (sync_delete_view)

    # --- extra pages ---------------------------------------------------------------------------
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("sync-to-facebook/", wrap(self.sync_create_view), name="syncs_syncjob_create"),
            path("<int:job_id>/run-now/", wrap(self.run_now_view), name="syncs_syncjob_run_now"),
            path("<int:job_id>/pause/", wrap(self.pause_view), name="syncs_syncjob_pause"),
            path("<int:job_id>/resume/", wrap(self.resume_view), name="syncs_syncjob_resume"),
            path("<int:job_id>/approve-removals/", wrap(self.approve_view), name="syncs_syncjob_approve"),
            path("<int:job_id>/recreate-audience/", wrap(self.recreate_view), name="syncs_syncjob_recreate"),
            path("<int:job_id>/delete-sync/", wrap(self.sync_delete_view), name="syncs_syncjob_delete_sync"),
            path("<int:job_id>/progress.json", wrap(self.progress_view), name="syncs_syncjob_progress"),
            path("<int:job_id>/find-member/", wrap(self.member_lookup_view), name="syncs_syncjob_find_member"),
            *super().get_urls(),
        ]

    def _job_for(self, request: HttpRequest, job_id: int, role: str) -> SyncJob:
        job = get_object_or_404(self.get_queryset(request).select_related("cohort__project", "connection"), pk=job_id)
        if not has_project_role(request.user, job.cohort.project_id, role):
            raise PermissionDenied("Your role in this project does not allow this.")
        return job

    def _post_action(self, request: HttpRequest, job_id: int, role: str, action, done: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = self._job_for(request, job_id, role)
        try:
            action(job=job, user=request.user, request=request)
        except services.SyncSetupError as error:
            self.message_user(request, f"{error.message} {error.fix}", messages.ERROR)
        else:
            self.message_user(request, done, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:syncs_syncjob_change", args=[job.pk]))

    def run_now_view(self, request, job_id):
        return self._post_action(request, job_id, Role.OPERATOR, services.sync_job_run_now,
                                 "A run was queued; this page shows its progress.")

    def pause_view(self, request, job_id):
        return self._post_action(request, job_id, Role.OPERATOR, services.sync_job_pause, "The sync is paused.")

    def resume_view(self, request, job_id):
        return self._post_action(request, job_id, Role.OPERATOR, services.sync_job_resume, "The sync is resumed.")

    def approve_view(self, request, job_id):
        return self._post_action(request, job_id, Role.ADMIN, services.sync_job_approve_removals,
                                 "Removal approved: a run was queued.")

    def recreate_view(self, request, job_id):
        return self._post_action(request, job_id, Role.OPERATOR, services.sync_job_recreate_audience,
                                 "A new audience was created; every member will be sent to it.")

    def progress_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        return views.job_progress_json(request, self._job_for(request, job_id, Role.VIEWER))

    def member_lookup_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        # Who is in an audience is personal data: operators and admins, never viewers.
        job = self._job_for(request, job_id, Role.OPERATOR)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "original": job}
        return views.member_lookup_page(request, job, context)

    def sync_create_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        project_ids = project_ids_with_role(request.user, Role.OPERATOR)
        initial = {"cohort": request.GET.get("cohort")} if request.GET.get("cohort") else {}
        form = SyncCreateForm(request.POST or None, initial=initial, project_ids=project_ids)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            spec = services.SyncJobSpec(
                cohort=data["cohort"],
                connection=data["connection"],
                cadence=data["cadence"],
                cron_expression=data["cron_expression"],
                mode=data["mode"],
                existing_audience_id=data["existing_audience_id"] if data["audience"] == form.AUDIENCE_EXISTING
                else "",
                audience_name=data["audience_name"],
            )
            try:
                job = services.sync_job_create(spec=spec, user=request.user, request=request)
            except services.SyncSetupError as error:
                form.add_error(None, f"{error.message} {error.fix}".strip())
            else:
                self.message_user(request, f"Syncing {job.cohort} to audience {job.audience_id}: the first run "
                                  "was queued.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:syncs_syncjob_change", args=[job.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Sync a cohort to Facebook",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/syncs/syncjob/sync_create.html", context)

    def sync_delete_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        job = self._job_for(request, job_id, Role.ADMIN)
        form = SyncDeleteForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            warning = services.sync_job_delete(
                job=job, delete_audience=form.cleaned_data["delete_audience"], user=request.user, request=request
            )
            self.message_user(request, warning or "The sync was deleted.", messages.WARNING if warning else
                              messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:syncs_syncjob_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Delete the sync {job}",
            "job": job,
            "form": form,
            "opts": self.model._meta,
            "runs": job.runs.count(),
        }
        return TemplateResponse(request, "admin/syncs/syncjob/sync_delete.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        job = self.get_object(request, object_id)
        project_id = job.cohort.project_id
        before = request.GET.get("runs_before", "")
        runs = job_runs_page(job_id=job.pk, before=int(before) if before.isdigit() else None)
        latest = runs.runs[0] if runs.is_first and runs.runs else None
        progress = run_progress(latest) if latest is not None else None
        below_threshold = job.audience_upper_bound is not None and 0 <= job.audience_upper_bound <= 1000
        extra_context.update(
            can_operate=has_project_role(request.user, project_id, Role.OPERATOR),
            can_administer=has_project_role(request.user, project_id, Role.ADMIN),
            runs_page=runs,
            progress=progress,
            progress_url=reverse("admin:syncs_syncjob_progress", args=[job.pk]),
            lookup_url=reverse("admin:syncs_syncjob_find_member", args=[job.pk]),
            lookup_form=views.MemberLookupForm(),
            charts=job_charts(job_id=job.pk),
            notices=list(progress.notices) if progress is not None else [],
            below_threshold=below_threshold,
            matching_delay_note=MATCHING_DELAY_NOTE,
            size_label=audience_size_label(job.audience_lower_bound, job.audience_upper_bound),
        )
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_create": self.has_change_permission(request)}
        return super().changelist_view(request, extra_context)


@admin.register(SyncRun)
class SyncRunAdmin(SystemWrittenAdmin):
    project_path = "job__cohort__project"
    paginator = BoundedCountPaginator
    show_facets = admin.ShowFacets.NEVER  # a count per filter choice would scan every run
    change_form_template = "admin/syncs/syncrun/change_form.html"
    list_display = [
        "id",
        "job",
        "status",
        "trigger",
        "started_at",
        "finished_at",
        "rows_added",
        "rows_removed",
        "rows_unchanged",
        "rows_skipped",
        "batches_link",
    ]
    list_filter = ["status", "trigger", ProjectJobFilter]
    list_select_related = ["job__cohort"]
    search_fields = ["job__audience_name"]
    readonly_fields = ["job", "triggered_by", "approved_by"]

    @admin.display(description="Batches")
    def batches_link(self, run: SyncRun):
        url = reverse("admin:syncs_syncbatch_changelist") + f"?run__id__exact={run.pk}"
        return format_html('<a href="{}">{} of {} done</a>', url, run.batches_done, run.batches_planned)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        batches = reverse("admin:syncs_syncbatch_changelist") + f"?run__id__exact={run.pk}"
        extra_context = {
            **(extra_context or {}),
            "progress": run_progress(run),
            "batches_url": batches,
            "failures_url": f"{batches}&status__exact={SyncBatch.Status.FAILED}",
            "job_url": reverse("admin:syncs_syncjob_change", args=[run.job_id]),
        }
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(SyncBatch)
class SyncBatchAdmin(SystemWrittenAdmin):
    """The batch log. Reached from a run with ?run__id__exact=N (add &status__exact=failed for failures).

    Indexes behind the filters: (run, sequence) unique, (run, status), and (status, run,
    sequence) for failures across runs; the list never counts more than 10,000 rows.
    """

    project_path = "run__job__cohort__project"
    paginator = BoundedCountPaginator
    show_facets = admin.ShowFacets.NEVER  # a count per filter choice would scan every batch
    change_list_template = "admin/syncs/syncbatch/change_list.html"
    list_display = [
        "id",
        "run",
        "operation",
        "sequence",
        "status",
        "rows_sent",
        "num_received",
        "num_invalid_entries",
        "http_status",
        "attempts",
        "duration_ms",
        "error_code",
    ]
    list_filter = ["status", "operation"]
    list_select_related = ["run__job__cohort"]
    fieldsets = [
        ("Sent", {"fields": ["run", "operation", "sequence", "lane", "session_id", "batch_seq", "last_batch",
                             "rows_sent", "bytes_sent", "started_at", "finished_at", "duration_ms", "attempts"]}),
        ("Facebook's answer", {"fields": ["status", "http_status", "num_received", "num_invalid_entries",
                                          "invalid_entry_samples", "fbtrace_id"]}),
        ("Problem and fix", {"fields": ["error_code", "error_message", "error_fix"]}),
    ]

    def changelist_view(self, request, extra_context=None):
        run_id = request.GET.get("run__id__exact", "")
        run = None
        if run_id.isdigit():
            run = SyncRun.objects.select_related("job__cohort").filter(pk=int(run_id)).first()
            if run is not None and not has_project_role(request.user, run.job.cohort.project_id, Role.VIEWER):
                run = None  # the list itself is scoped: it shows nothing either
        extra_context = {**(extra_context or {}), "filtered_run": run}
        if run is not None:
            base = reverse("admin:syncs_syncbatch_changelist") + f"?run__id__exact={run.pk}"
            extra_context.update(
                run_batches_url=base,
                run_failures_url=f"{base}&status__exact={SyncBatch.Status.FAILED}",
                run_url=reverse("admin:syncs_syncrun_change", args=[run.pk]),
                job_url=reverse("admin:syncs_syncjob_change", args=[run.job_id]),
            )
        return super().changelist_view(request, extra_context)


@admin.register(AudienceMember)
class AudienceMemberAdmin(SystemWrittenAdmin):
    """The ledger (digests only). Millions of rows: never counted in full, filtered by job and presence.

    To answer "is this person in the audience?", use "Find a person" on the sync job's page.
    """

    project_path = "job__cohort__project"
    paginator = BoundedCountPaginator
    show_facets = admin.ShowFacets.NEVER  # a count per filter choice would scan the whole ledger
    change_list_template = "admin/syncs/audiencemember/change_list.html"
    list_display = ["job", "row_hash", "present", "added_at", "added_batch_id", "removed_at", "removed_batch_id"]
    list_filter = [PresenceFilter, ProjectJobFilter]
    list_select_related = ["job__cohort"]
    raw_id_fields = ["added_batch", "removed_batch"]

    def get_queryset(self, request: HttpRequest):
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match and match.url_name == "syncs_audiencemember_changelist" and not self._job_chosen(request):
            # One job's rows at a time: across jobs, "newest first" means sorting millions of rows.
            return queryset.none()
        return queryset

    @staticmethod
    def _job_chosen(request: HttpRequest) -> bool:
        return request.GET.get(ProjectJobFilter.parameter_name, "").isdigit()

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "job_chosen": self._job_chosen(request)}
        return super().changelist_view(request, extra_context)


@admin.register(AdAccountThrottle)
class AdAccountThrottleAdmin(admin.ModelAdmin):
    """Not tied to one project (an ad account may serve several): superusers only."""

    list_display = ["ad_account_id", "blocked_until", "reason", "updated_at"]

    def has_module_permission(self, request):
        return is_superuser(request.user)

    def has_view_permission(self, request, obj=None):
        return is_superuser(request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return is_superuser(request.user)

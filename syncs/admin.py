from __future__ import annotations

from django.contrib import admin

from integrations.access import is_superuser
from integrations.admin_base import ProjectScopedAdmin, SystemWrittenAdmin
from syncs.models import AdAccountThrottle, AudienceMember, SyncBatch, SyncJob, SyncRun


@admin.register(SyncJob)
class SyncJobAdmin(ProjectScopedAdmin):
    project_path = "cohort__project"
    list_display = [
        "audience_name",
        "cohort",
        "connection",
        "cadence",
        "status",
        "enabled",
        "last_success_at",
        "next_run_at",
    ]
    list_filter = ["status", "cadence", "enabled", "cohort__project"]
    list_select_related = ["cohort", "connection", "connection__project"]
    search_fields = ["audience_name", "audience_id", "cohort__name"]
    readonly_fields = [
        "audience_id",
        "status",
        "status_reason",
        "status_fix",
        "next_run_at",
        "last_run_at",
        "last_success_at",
        "ledger_mapping_fingerprint",
        "audience_lower_bound",
        "audience_upper_bound",
        "audience_checked_at",
        "created_by",
    ]


@admin.register(SyncRun)
class SyncRunAdmin(SystemWrittenAdmin):
    project_path = "job__cohort__project"
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
    ]
    list_filter = ["status", "trigger"]
    list_select_related = ["job__cohort"]
    search_fields = ["job__audience_name"]


@admin.register(SyncBatch)
class SyncBatchAdmin(SystemWrittenAdmin):
    project_path = "run__job__cohort__project"
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
    ]
    list_filter = ["status", "operation"]
    list_select_related = ["run__job__cohort"]


@admin.register(AudienceMember)
class AudienceMemberAdmin(SystemWrittenAdmin):
    project_path = "job__cohort__project"
    list_display = ["job", "row_hash", "present", "added_at", "removed_at"]
    list_filter = ["present"]
    list_select_related = ["job__cohort"]
    raw_id_fields = ["added_batch", "removed_batch"]


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

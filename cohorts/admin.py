from __future__ import annotations

from django.contrib import admin

from cohorts.models import AmplitudeUsage, Cohort, CohortImport, CohortMember
from integrations.admin_base import ProjectScopedAdmin, SystemWrittenAdmin


@admin.register(Cohort)
class CohortAdmin(ProjectScopedAdmin):
    list_display = ["name", "project", "source", "size", "members_count", "last_computed", "archived"]
    list_filter = ["source", "archived", "project"]
    list_select_related = ["project"]
    search_fields = ["name", "amplitude_cohort_id", "project__name"]
    readonly_fields = [
        "size",
        "last_computed",
        "last_computed_marker",
        "members_count",
        "members_skipped",
        "members_skipped_reasons",
        "members_refreshed_at",
        "members_source_marker",
        "members_mapping_fingerprint",
    ]


@admin.register(CohortImport)
class CohortImportAdmin(SystemWrittenAdmin):
    project_path = "cohort__project"
    list_display = ["cohort", "source", "status", "started_at", "rows_read", "rows_kept", "rows_rejected"]
    list_filter = ["status", "source"]
    list_select_related = ["cohort"]
    search_fields = ["cohort__name", "file_name"]


@admin.register(AmplitudeUsage)
class AmplitudeUsageAdmin(SystemWrittenAdmin):
    list_display = ["project", "month", "download_requests", "other_requests"]
    list_filter = ["project"]
    list_select_related = ["project"]


@admin.register(CohortMember)
class CohortMemberAdmin(SystemWrittenAdmin):
    """Members as uploaded (hashes): for checking counts, never personal data."""

    project_path = "cohort__project"
    list_display = ["cohort", "row_hash"]
    list_select_related = ["cohort"]
    list_filter = ["cohort__project"]
    readonly_fields = ["cohort", "row_hash", "row"]

"""The Amplitude sandbox's admin: its projects' keys and failure switches, its cohorts.

Registered only when the sandbox is on. "Change 1% / 10% of members" moves a cohort the
way the benchmarks do; `manage.py sandbox_amplitude_cohort` does the same from a script.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from integrations.sandbox.amplitude import services
from integrations.sandbox.amplitude.models import SandboxAmplitudeProject, SandboxCohort, SandboxExport


class SandboxAmplitudeProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "app_id", "api_key", "refuse_auth", "throttle_next", "throttle_share", "status_polls"]
    fieldsets = [
        (None, {"fields": ["name", "app_id", "api_key", "secret_key"]}),
        (
            "Failures on demand",
            {"fields": ["refuse_auth", "throttle_next", "throttle_share", "status_polls", "inline_max_bytes"]},
        ),
    ]


class SandboxCohortAdmin(admin.ModelAdmin):
    list_display = ["name", "cohort_id", "project", "size", "drift_per_hour", "last_computed", "archived"]
    list_filter = ["project", "archived", "is_default"]
    list_select_related = ["project"]
    search_fields = ["name", "cohort_id"]
    readonly_fields = ["cohort_id", "pool_size", "shift", "email_changes", "changed_at", "last_computed"]
    actions = ["change_one_percent", "change_ten_percent"]

    @admin.display(description="lastComputed (epoch s)")
    def last_computed(self, obj: SandboxCohort) -> int:
        return services.cohort_last_computed(obj)

    def save_model(self, request, obj: SandboxCohort, form, change: bool) -> None:
        if not change:
            obj.cohort_id = obj.cohort_id or services._new_cohort_id()
            obj.pool_size = services.pool_size_for(obj.size)
        super().save_model(request, obj, form, change)

    def _change(self, request: HttpRequest, queryset: QuerySet[SandboxCohort], percent: float) -> None:
        for cohort in queryset:
            change = services.sandbox_cohort_change(cohort=cohort, percent=percent)
            self.message_user(
                request,
                f"{cohort.name}: {change.left} left, {change.joined} joined, {change.email_changed} changed email.",
                messages.SUCCESS,
            )

    @admin.action(description="Change 1%% of the members")
    def change_one_percent(self, request, queryset):
        self._change(request, queryset, 1)

    @admin.action(description="Change 10%% of the members")
    def change_ten_percent(self, request, queryset):
        self._change(request, queryset, 10)


class SandboxExportAdmin(admin.ModelAdmin):
    list_display = ["request_id", "cohort", "polls", "created_at"]
    list_select_related = ["cohort"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


if getattr(settings, "SANDBOX", False):
    admin.site.register(SandboxAmplitudeProject, SandboxAmplitudeProjectAdmin)
    admin.site.register(SandboxCohort, SandboxCohortAdmin)
    admin.site.register(SandboxExport, SandboxExportAdmin)

"""Admin for key mappings: which Amplitude identifier feeds which Facebook match key."""

from __future__ import annotations

from django.contrib import admin

from integrations.admin_base import ProjectScopedAdmin
from integrations.audit import AuditActions, audit_record, summarize_changes
from integrations.models import KeyMapping


@admin.register(KeyMapping)
class KeyMappingAdmin(ProjectScopedAdmin):
    list_display = ["project", "facebook_key", "source", "property_name", "updated_at"]
    list_filter = ["facebook_key", "source", "project"]
    list_select_related = ["project"]
    search_fields = ["project__name", "property_name"]

    def save_model(self, request, obj, form, change):
        before = dict(form.initial)
        super().save_model(request, obj, form, change)
        if change:
            changes = {"operation": "changed", **summarize_changes(obj, list(form.changed_data), before=before)}
        else:
            changes = {"operation": "added", "mapping": str(obj)}
        audit_record(
            action=AuditActions.KEY_MAPPING_CHANGED,
            request=request,
            project=obj.project,
            target=obj,
            changes=changes,
        )

    def delete_model(self, request, obj):
        project, label = obj.project, str(obj)
        super().delete_model(request, obj)
        audit_record(
            action=AuditActions.KEY_MAPPING_CHANGED,
            request=request,
            project=project,
            changes={"operation": "removed", "mapping": label},
        )

    def delete_queryset(self, request, queryset):
        for mapping in queryset.select_related("project"):
            self.delete_model(request, mapping)

"""The audit review: read-only, scoped to the person's projects."""

from __future__ import annotations

from django.contrib import admin

from integrations.admin_base import SystemWrittenAdmin
from integrations.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(SystemWrittenAdmin):
    list_display = ["created_at", "actor_label", "project_label", "action", "target_label", "ip_address"]
    list_filter = ["action", "project"]
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

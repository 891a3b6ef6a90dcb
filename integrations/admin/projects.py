"""Admin for projects and who is a member of them."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import path

from integrations import views
from integrations.access import Role, forget_project_roles, has_project_role, is_superuser
from integrations.admin.connections import connection_panel_context
from integrations.admin_base import ProjectScopedAdmin
from integrations.admin_home import project_setup_checklist
from integrations.audit import AuditActions, audit_record, summarize_changes
from integrations.models import Project, ProjectMembership

SECRET_FIELDS = ("amplitude_api_key", "amplitude_secret_key")


class ProjectForm(forms.ModelForm):
    """Secrets are write-only: an empty box keeps the stored value."""

    class Meta:
        model = Project
        fields = [
            "name",
            "slug",
            "amplitude_project_id",
            "amplitude_region",
            "amplitude_api_key",
            "amplitude_secret_key",
            "default_country",
            "time_zone",
        ]
        # Never rendered back into the page (a text box would show the decrypted value).
        widgets = {
            name: forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
            for name in SECRET_FIELDS
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            field = self.fields.get(name)
            if field is None:  # read-only page (a viewer or operator): the secrets are not shown
                continue
            field.required = False
            is_set = bool(self.instance.pk and getattr(self.instance, name))
            field.help_text = (
                "Stored encrypted. Leave empty to keep the current value." if is_set else "Not set yet."
            )

    def clean(self):
        cleaned = super().clean()
        for name in SECRET_FIELDS:
            if not cleaned.get(name) and self.instance.pk:
                cleaned[name] = getattr(Project.objects.get(pk=self.instance.pk), name)
        if cleaned.get("default_country"):
            cleaned["default_country"] = cleaned["default_country"].upper()
        return cleaned


@admin.register(Project)
class ProjectAdmin(ProjectScopedAdmin):
    form = ProjectForm
    project_path = ""
    edit_role = Role.ADMIN
    list_display = ["name", "slug", "amplitude_region", "default_country", "time_zone", "created_at"]
    list_filter = ["amplitude_region"]
    search_fields = ["name", "slug", "amplitude_project_id"]
    prepopulated_fields = {"slug": ["name"]}
    change_form_template = "admin/integrations/project/change_form.html"

    def get_exclude(self, request, obj=None):
        # A read-only page shows every field as text: the secrets must not be among them.
        if obj is not None and not self.has_change_permission(request, obj):
            return [*(super().get_exclude(request, obj) or []), *SECRET_FIELDS]
        return super().get_exclude(request, obj)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:object_id>/facebook/connect/",
                wrap(views.project_facebook_connect),
                name="integrations_project_facebook_connect",
            ),
            path(
                "<int:object_id>/facebook/system-user-token/",
                wrap(views.project_system_user_token),
                name="integrations_project_system_user_token",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        project = self.get_object(request, object_id)  # 404 outside the person's projects
        connections = project.facebook_connections.select_related("project").order_by("created_at")
        steps = project_setup_checklist(project=project, user=request.user)
        extra_context = {
            **(extra_context or {}),
            "facebook_connections": [connection_panel_context(request, c) for c in connections],
            "can_connect_facebook": has_project_role(request.user, project.pk, Role.ADMIN),
            "setup_steps": steps,
            "next_step": next((step for step in steps if not step.done), None),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A project is created by a superuser, who then names its project admins.
        return is_superuser(request.user)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_superuser(request.user)

    def save_model(self, request, obj, form, change):
        changed = [name for name in form.changed_data if name in form.fields]
        super().save_model(request, obj, form, change)
        audit_record(
            action=AuditActions.PROJECT_CHANGED if change else AuditActions.PROJECT_CREATED,
            request=request,
            project=obj,
            target=obj,
            changes=summarize_changes(obj, changed, before=dict(form.initial)),
        )


@admin.register(ProjectMembership)
class ProjectMembershipAdmin(ProjectScopedAdmin):
    edit_role = Role.ADMIN
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    list_select_related = ["user", "project"]
    search_fields = ["user__username", "user__email", "project__name"]
    autocomplete_fields = ["user"]

    def save_model(self, request, obj, form, change):
        before = dict(form.initial)
        super().save_model(request, obj, form, change)
        forget_project_roles(request.user)
        audit_record(
            action=AuditActions.MEMBERSHIP_CHANGED if change else AuditActions.MEMBERSHIP_ADDED,
            request=request,
            project=obj.project,
            target=obj,
            changes=summarize_changes(obj, list(form.changed_data), before=before),
        )

    def delete_model(self, request, obj):
        project, label = obj.project, str(obj)
        super().delete_model(request, obj)
        audit_record(
            action=AuditActions.MEMBERSHIP_REMOVED,
            request=request,
            project=project,
            changes={"membership": label},
        )

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("project", "user"):
            self.delete_model(request, membership)

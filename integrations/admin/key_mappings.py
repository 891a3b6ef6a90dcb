"""Admin for key mappings: which Amplitude identifier feeds which Facebook match key.

A change that would leave a project without a key that identifies a person (email, phone,
mobile advertiser id or external id) is refused where it is saved: adding, changing,
deleting one mapping or deleting several. Changing the mapping of a project whose syncs
have already sent members warns that the next run re-sends everyone with the new keys.
Every change leaves exactly one audit event.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from integrations.admin_base import ProjectScopedAdmin
from integrations.audit import AuditActions, audit_record, summarize_changes
from integrations.key_mappings import (
    MappedKey,
    key_mapping_change_problems,
    key_mapping_change_warnings,
    key_mapping_problems,
)
from integrations.models import KeyMapping


class KeyMappingForm(forms.ModelForm):
    class Meta:
        model = KeyMapping
        fields = ["project", "facebook_key", "source", "property_name"]
        help_texts = {
            "source": (
                "A device id helps only when it is the IDFA/AAID (map it to MADID); a user property is read by "
                "its name in Amplitude."
            ),
        }

    def clean(self):
        data = super().clean()
        source = data.get("source")
        name = (data.get("property_name") or "").strip()
        if source and source != KeyMapping.Source.USER_PROPERTY:
            name = ""  # only a user property has a name; a leftover one would be refused
        elif source == KeyMapping.Source.USER_PROPERTY and not name:
            self.add_error("property_name", "Name the user property, as it is called in Amplitude.")
        data["property_name"] = name
        self.instance.property_name = name
        project, key = data.get("project"), data.get("facebook_key")
        if project is None or not key or not source or self.errors:
            return data
        adding = MappedKey(key, source, name)
        problems = key_mapping_change_problems(project_id=project.pk, removing_pk=self.instance.pk, adding=adding)
        previous_project = self.instance.project_id if self.instance.pk else None
        if previous_project and previous_project != project.pk:
            problems += key_mapping_change_problems(project_id=previous_project, removing_pk=self.instance.pk)
        if problems:
            raise ValidationError(list(dict.fromkeys(problems)))
        return data


@admin.register(KeyMapping)
class KeyMappingAdmin(ProjectScopedAdmin):
    form = KeyMappingForm
    list_display = ["project", "facebook_key", "source", "property_name", "updated_at"]
    list_filter = ["facebook_key", "source", "project"]
    list_select_related = ["project"]
    search_fields = ["project__name", "property_name"]

    # --- warnings before and after a change ---------------------------------------------------
    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        if request.method == "GET":
            obj = self.get_object(request, object_id)
            for warning in key_mapping_change_warnings(obj.project_id):
                self.message_user(request, warning, messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    def _warn_after_change(self, request: HttpRequest, project_id: int) -> None:
        for warning in key_mapping_change_warnings(project_id):
            self.message_user(request, warning, messages.WARNING)

    # --- saving and deleting: validated, audited ----------------------------------------------
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
        self._warn_after_change(request, obj.project_id)

    def delete_view(self, request: HttpRequest, object_id, extra_context=None):
        obj = self.get_object(request, object_id)
        problems = key_mapping_change_problems(project_id=obj.project_id, removing_pk=obj.pk)
        if problems:
            self.message_user(request, f"{obj} cannot be deleted. {' '.join(problems)}", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:integrations_keymapping_change", args=[obj.pk]))
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj):
        project, label = obj.project, str(obj)
        super().delete_model(request, obj)
        audit_record(
            action=AuditActions.KEY_MAPPING_CHANGED,
            request=request,
            project=project,
            changes={"operation": "removed", "mapping": label},
        )
        self._warn_after_change(request, project.pk)

    def delete_queryset(self, request, queryset):
        for mapping in queryset.select_related("project"):
            self.delete_model(request, mapping)

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            _, name, description = actions["delete_selected"]
            actions["delete_selected"] = (self.delete_selected_checked, name, description)
        return actions

    @staticmethod
    def delete_selected_checked(modeladmin: KeyMappingAdmin, request: HttpRequest, queryset):
        """Django's bulk delete, refused when it would leave a project without an identifying key."""
        doomed: dict[int, set[int]] = {}
        for pk, project_id in queryset.values_list("pk", "project_id"):
            doomed.setdefault(project_id, set()).add(pk)
        for project_id, pks in doomed.items():
            remaining = [key for key, pk in _project_mapping_with_pks(project_id) if pk not in pks]
            problems = key_mapping_problems(remaining)
            if problems:
                modeladmin.message_user(request, f"Nothing was deleted. {' '.join(problems)}", messages.ERROR)
                return None
        return delete_selected(modeladmin, request, queryset)


def _project_mapping_with_pks(project_id: int) -> list[tuple[MappedKey, int]]:
    rows = KeyMapping.objects.filter(project_id=project_id).values_list(
        "pk", "facebook_key", "source", "property_name"
    )
    return [(MappedKey(key, source, name), pk) for pk, key, source, name in rows]

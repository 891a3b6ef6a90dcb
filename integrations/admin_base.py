"""Admin base classes: every page is scoped to the projects the person is a member of."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpRequest

from integrations.access import (
    Role,
    has_any_project_role,
    has_project_role,
    is_superuser,
    project_ids_with_role,
)
from integrations.models import Project


def scoped_project_filter(path: str) -> type[admin.SimpleListFilter]:
    """A "By project" filter offering only the person's own projects.

    Django's related-field filter lists every project in the database, which would show a
    member of one project the names of all the others.
    """

    class ScopedProjectFilter(admin.SimpleListFilter):
        title = "project"
        parameter_name = f"{path}__id__exact"

        def lookups(self, request, model_admin):
            projects = Project.objects.order_by("name").values_list("pk", "name")
            ids = project_ids_with_role(request.user, Role.VIEWER)
            if ids is not None:
                projects = projects.filter(pk__in=ids)
            return [(str(pk), name) for pk, name in projects]

        def queryset(self, request, queryset):
            value = self.value()
            if not value or not value.isdigit():
                return queryset
            return queryset.filter(**{f"{path}_id": int(value)})

    return ScopedProjectFilter


class ProjectScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose rows belong to a project.

    `project_path` is the ORM path from the model to its Project ("project",
    "cohort__project", ...; "" for Project itself). Viewers read, `edit_role` and
    above change. Objects of other projects do not exist for the person (404).
    """

    project_path: str = "project"
    edit_role: str = Role.OPERATOR
    # Large tables: never COUNT(*) the unfiltered table just to show "x of N".
    show_full_result_count = False

    # --- scoping ---------------------------------------------------------------------
    def _project_id_lookup(self) -> str:
        return f"{self.project_path}_id" if self.project_path else "pk"

    def get_queryset(self, request: HttpRequest):
        queryset = super().get_queryset(request)
        ids = project_ids_with_role(request.user, Role.VIEWER)
        if ids is None:
            return queryset
        return queryset.filter(**{f"{self._project_id_lookup()}__in": ids})

    def project_id_of(self, obj: models.Model) -> int | None:
        if not self.project_path:
            return obj.pk
        current = obj
        *parents, last = self.project_path.split("__")
        for name in parents:
            current = getattr(current, name, None)
            if current is None:
                return None
        return getattr(current, f"{last}_id", None)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            # Django would redirect to the index with "doesn't exist"; a person outside
            # the project must not even learn whether the object exists.
            raise Http404("No such object.")
        return obj

    def get_list_filter(self, request: HttpRequest):
        return [
            scoped_project_filter(item)
            if isinstance(item, str) and (item == "project" or item.endswith("__project"))
            else item
            for item in super().get_list_filter(request)
        ]

    # --- permissions -------------------------------------------------------------------
    def has_module_permission(self, request: HttpRequest) -> bool:
        return has_any_project_role(request.user, Role.VIEWER)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is None:
            return has_any_project_role(request.user, Role.VIEWER)
        return has_project_role(request.user, self.project_id_of(obj), Role.VIEWER)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is None:
            return has_any_project_role(request.user, self.edit_role)
        return has_project_role(request.user, self.project_id_of(obj), self.edit_role)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return has_any_project_role(request.user, self.edit_role)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.has_change_permission(request, obj)

    # --- forms: only projects the person may edit are offered -------------------------------
    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.related_model is Project and not is_superuser(request.user):
            ids = project_ids_with_role(request.user, self.edit_role) or []
            kwargs["queryset"] = Project.objects.filter(pk__in=ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        # The form already limits the choices; this guards a forged POST.
        if not has_project_role(request.user, self.project_id_of(obj), self.edit_role):
            raise PermissionDenied("You cannot change this project.")
        super().save_model(request, obj, form, change)


class SystemWrittenAdmin(ProjectScopedAdmin):
    """Records the system writes (runs, batches, audit events): read-only for everyone."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

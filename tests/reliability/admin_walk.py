"""Walking the site's URLs: every route, its parameters filled with real ids of a project's objects."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.apps import apps
from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver

from integrations.admin_base import ProjectScopedAdmin
from integrations.models import Project

PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
REGEX_GROUP = re.compile(r"\(\?P<\w+>(?:[^()]|\([^()]*\))*\)")
# Ids of the object a custom URL parameter names (the rest name the route's own model).
PARAM_MODELS = {"job_id": "syncs.SyncJob", "cohort_id": "cohorts.Cohort"}
# Changelist filters that name another object: each is tried with B's id.
FILTER_PARAMS = {
    "project__id__exact": "integrations.Project",
    "project": "integrations.Project",
    "cohort__project__id__exact": "integrations.Project",
    "job__cohort__project__id__exact": "integrations.Project",
    "cohort__id__exact": "cohorts.Cohort",
    "cohort": "cohorts.Cohort",
    "job__id__exact": "syncs.SyncJob",
    "job": "syncs.SyncJob",
    "run__id__exact": "syncs.SyncRun",
    "connection__id__exact": "integrations.FacebookConnection",
    "connection": "integrations.FacebookConnection",
}
# Would end the test's session or change its password.
SKIPPED_ROUTES = {"admin/logout/", "admin/password_change/", "accounts/logout/", "accounts/password/change/"}


@dataclass(frozen=True)
class Route:
    template: str
    model: type[models.Model] | None  # the ModelAdmin the route belongs to, if any


def site_routes(prefixes: tuple[str, ...] = ("admin/",)) -> Iterator[Route]:
    """Every route of the site starting with one of `prefixes`, with the model of the ModelAdmin serving it."""

    def walk(patterns, prefix: str) -> Iterator[str]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern)

    for template in walk(get_resolver().url_patterns, ""):
        if not template.startswith(prefixes):
            continue
        parts = template.split("/")
        model = None
        if template.startswith("admin/") and len(parts) > 3:
            try:
                model = apps.get_model(parts[1], parts[2])
            except (LookupError, ValueError):
                model = None
        yield Route(template, model)


def project_objects(model: type[models.Model], project: Project) -> models.QuerySet:
    model_admin = admin.site._registry.get(model)
    if isinstance(model_admin, ProjectScopedAdmin):
        return model._default_manager.filter(**{model_admin._project_id_lookup(): project.pk})
    return model._default_manager.all()  # not a project's data: any row of it


def lookup_exists(model: type[models.Model], lookup: str) -> bool:
    """Whether `lookup` (a changelist filter parameter) names a relation path of `model`."""
    current = model
    for part in lookup.split("__"):
        if part in ("id", "exact"):
            continue
        try:
            relation = current._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        if not relation.is_relation:
            return False
        current = relation.related_model
    return True


def urls_for(route: Route, project_b: Project) -> Iterator[str]:
    """Concrete URLs of a route, its parameters filled with ids of `project_b`'s objects."""
    template = route.template
    if template in SKIPPED_ROUTES:
        return
    if "(?P<" in template and not template.startswith("admin/"):  # allauth's regex routes: any value
        yield "/" + REGEX_GROUP.sub("x1", template.replace("^", "").replace("$", ""))
        return
    if template.startswith("admin/^(?P<app_label>"):  # the app index (a regex route)
        for label in re.search(r"\(\?P<app_label>([^)]*)\)", template).group(1).split("|"):
            yield f"/admin/{label}/"
        return
    if "(?P<url>" in template:  # the catch-all
        yield "/admin/no/such/page/"
        return
    names = [name for _, name in PARAM.findall(template)]
    if names == ["content_type_id", "object_id"]:  # "view on site"
        from django.contrib.contenttypes.models import ContentType

        for model in admin.site._registry:
            for obj in project_objects(model, project_b)[:1]:
                content_type = ContentType.objects.get_for_model(model)
                yield "/" + template.replace("<int:content_type_id>", str(content_type.pk)).replace(
                    "<path:object_id>", str(obj.pk)
                )
        return
    if not names:
        yield "/" + template
        if route.model is not None and template.endswith(f"{route.model._meta.model_name}/"):
            for name, label in FILTER_PARAMS.items():
                if lookup_exists(route.model, name):
                    target = project_objects(apps.get_model(label), project_b).get()
                    yield f"/{template}?{name}={target.pk}"
        return
    url = template
    for converter_name in PARAM.findall(template):
        converter, name = converter_name
        model = apps.get_model(PARAM_MODELS[name]) if name in PARAM_MODELS else route.model
        assert model is not None, template
        obj = project_objects(model, project_b).first()
        object_id = str(obj.pk) if obj is not None else "987654321"  # a table without rows: an unknown id
        url = url.replace(f"<{converter + ':' if converter else ''}{name}>", object_id)
    yield "/" + url

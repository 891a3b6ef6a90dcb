"""Per-project isolation on every admin URL, walked as an admin of another project.

Every URL the admin serves (the site's own, every ModelAdmin's standard and custom
ones) is requested with real object ids of project B (GET, POST, every changelist action,
changelist filters naming B's ids, autocomplete) by an admin of project A. Allowed
answers: 403, 404, 405, a redirect to the login page, or a page without any of B's data
(B's names all carry the word "globex"). B's rows must be unchanged at the end.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import reverse

from integrations.admetrics.models import AdDailyMetric, AdInsightImport
from integrations.admin_base import ProjectScopedAdmin
from integrations.models import Project
from syncs.models import AdAccountThrottle
from tests.reliability.admin_walk import project_objects, site_routes, urls_for

pytestmark = pytest.mark.django_db

MARKER = re.compile(rb"globex", re.IGNORECASE)
FILTER_SIDEBAR = re.compile(rb'<nav id="changelist-filter".*?</nav>', re.DOTALL)
ALLOWED_REFUSALS = {403, 404, 405}


@pytest.fixture
def two_worlds(project, other_project, make_world, make_member, superuser):
    world_a, world_b = make_world(project), make_world(other_project)
    make_member(other_project, "admin", username="admin-globex")
    connection = world_b["connections"][0]
    for target in (project, other_project):
        tag = target.slug
        record = AdInsightImport.objects.create(
            project=target, connection=connection if target == other_project else world_a["connections"][0],
            ad_account_id=f"act_{tag}", ad_account_name=f"{tag} ads", kind="daily",
            since=dt.date(2026, 1, 1), until=dt.date(2026, 1, 2),
        )
        AdDailyMetric.objects.create(
            project=target, connection=record.connection, ad_account_id=f"act_{tag}", date=dt.date(2026, 1, 1),
            campaign_id="1", campaign_name=f"{tag} campaign", adset_id="2", adset_name=f"{tag} ad set", ad_id="3",
            ad_name=f"{tag} ad", currency="USD", spend=Decimal("1.5"), impressions=10, clicks=1, last_import=record,
        )
    from cohorts.models import AmplitudeListStatus

    AmplitudeListStatus.objects.create(project=other_project, error_message="globex list failed")
    AdAccountThrottle.objects.create(
        ad_account_id="act_globex", blocked_until=dt.datetime(2030, 1, 1, tzinfo=dt.UTC), reason="globex"
    )
    from django_q.models import Schedule

    Schedule.objects.create(name="globex-schedule", func="syncs.tasks.sync_job_scheduled_run")
    from django.contrib.auth.models import Group

    Group.objects.create(name="globex-group")
    from integrations.sandbox.services import sandbox_seed

    sandbox_seed()
    return world_a, world_b


def snapshot(project: Project) -> dict[str, list]:
    """Every row of project B in every project-scoped table, as values."""
    state = {}
    for model, model_admin in admin.site._registry.items():
        if isinstance(model_admin, ProjectScopedAdmin):
            state[model._meta.label] = list(project_objects(model, project).order_by("pk").values())
    return state


def final(client, response):
    """Follow redirects inside the admin (<id>/ -> <id>/change/, ?e=1, "no such object" -> index)."""
    for _ in range(3):
        location = response.headers.get("Location", "") if response.status_code in (301, 302) else ""
        if not location or location.startswith(reverse("admin:login")):
            break
        response = client.get(location)
    return response


@dataclass
class Findings:
    leaks: list[str] = field(default_factory=list)
    # A changelist's "By project" filter must list only the person's own projects.
    filter_leaks: list[str] = field(default_factory=list)


def check(client, response, what: str, findings: Findings) -> None:
    response = final(client, response)
    status = response.status_code
    if status in ALLOWED_REFUSALS or status in (301, 302):  # refused, or sent to the login page
        return
    body = b"".join(response.streaming_content) if response.streaming else response.content
    sidebar = FILTER_SIDEBAR.search(body)
    if sidebar and MARKER.search(sidebar.group()):
        findings.filter_leaks.append(f"{what}: the filter sidebar lists project B")
        body = body[: sidebar.start()] + body[sidebar.end() :]
    found = MARKER.search(body)
    if found:
        start = max(0, found.start() - 80)
        findings.leaks.append(f"{what}: HTTP {status} shows project B's data: ...{body[start:found.end() + 40]!r}")


def walk_every_url(client, project_b: Project) -> tuple[Findings, int]:
    findings, tried = Findings(), 0
    for route in site_routes():
        for url in urls_for(route, project_b):
            tried += 1
            check(client, client.get(url), f"GET {url}", findings)
            if "?" not in url:
                check(client, client.post(url, {}), f"POST {url}", findings)
    return findings, tried


def test_every_admin_url_refuses_project_b_to_an_admin_of_project_a(client, project, other_project, make_member,
                                                                    two_worlds):
    client.force_login(make_member(project, "admin", username="admin-acme"))
    before = snapshot(other_project)
    findings, tried = walk_every_url(client, other_project)
    assert tried > 200
    assert not findings.leaks, "\n".join(findings.leaks)
    assert snapshot(other_project) == before


def test_no_changelist_filter_names_project_b(client, project, other_project, make_member, two_worlds):
    client.force_login(make_member(project, "admin", username="admin-acme"))
    findings = Findings()
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        check(client, client.get(url), f"GET {url}", findings)
    assert not findings.filter_leaks, "\n".join(findings.filter_leaks[:20])


def test_no_changelist_action_touches_project_b(client, project, other_project, make_member, two_worlds):
    client.force_login(make_member(project, "admin", username="admin-acme"))
    before = snapshot(other_project)
    findings = Findings()
    factory_request = client.get(reverse("admin:index")).wsgi_request
    for model, model_admin in admin.site._registry.items():
        ids = [str(pk) for pk in project_objects(model, other_project).values_list("pk", flat=True)[:5]]
        if not ids:
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        actions = [name for _, name, _ in model_admin._get_base_actions()]
        actions += list(model_admin.get_actions(factory_request))
        for action in dict.fromkeys(actions):
            response = client.post(url, {"action": action, "_selected_action": ids, "index": 0, "post": "yes"})
            check(client, response, f"action {action} on {url}", findings)
    assert not findings.leaks, "\n".join(findings.leaks)
    assert snapshot(other_project) == before


def test_autocomplete_never_lists_project_b(client, project, other_project, make_member, two_worlds):
    client.force_login(make_member(project, "admin", username="admin-acme"))
    findings = Findings()
    for model in admin.site._registry:
        for model_field in model._meta.get_fields():
            if not (model_field.is_relation and model_field.many_to_one and model_field.concrete):
                continue
            for term in ("", "glo"):
                query = {"app_label": model._meta.app_label, "model_name": model._meta.model_name,
                         "field_name": model_field.name, "term": term}
                response = client.get(reverse("admin:autocomplete"), query)
                check(client, response, f"autocomplete {model.__name__}.{model_field.name} {term!r}", findings)
    assert not findings.leaks, "\n".join(findings.leaks)

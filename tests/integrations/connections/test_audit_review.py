"""Every connection action (and the admin's key-mapping and membership changes) leaves exactly one
audit event, which the review screen shows, filters by project, person, action and date, and
exports as CSV, only ever within the person's own projects."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.audit import audit_record
from integrations.connections import (
    connection_ad_account_choose,
    connection_disconnect,
    connection_system_user_token_submit,
)
from integrations.models import AuditEvent, ProjectMembership
from tests.integrations.connections.conftest import ACT, account_json

pytestmark = pytest.mark.django_db

REVIEW = "/admin/integrations/auditevent/"
EXPORT = "/admin/integrations/auditevent/export.csv"
Role = ProjectMembership.Role


@pytest.fixture
def trail(fb, client, project, other_project, make_member, superuser):
    """Acme's admin does one of everything; Globex has an event of its own."""
    ada = make_member(project, Role.ADMIN, username="ada")
    bob = make_member(other_project, Role.ADMIN, username="bob")
    client.force_login(ada)

    fb.account = account_json(terms=False)
    connection = connection_system_user_token_submit(project=project, token="EAAsystemuser1", actor=ada)
    connection = connection_ad_account_choose(connection=connection, ad_account_id=ACT, actor=ada)  # + check_failed
    connection_disconnect(connection=connection, actor=ada)
    fb.account = account_json(terms=True)
    connection_system_user_token_submit(project=project, token="EAAsystemuser2", actor=ada, connection=connection)

    response = client.post(
        reverse("admin:integrations_keymapping_add"),
        {"project": project.pk, "facebook_key": "EMAIL", "source": "user_property", "property_name": "email"},
    )
    assert response.status_code == 302
    response = client.post(
        reverse("admin:integrations_projectmembership_add"),
        {"user": superuser.pk, "project": project.pk, "role": Role.VIEWER},
    )
    assert response.status_code == 302
    audit_record(action="sync.created", actor=bob, project=other_project, changes={"job": "Globex job"})
    return {"ada": ada, "bob": bob, "connection": connection}


def rows_of(response) -> list[dict[str, str]]:
    content = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(content)))


def test_every_action_leaves_exactly_one_event(trail, project):
    actions = list(AuditEvent.objects.filter(project=project).order_by("id").values_list("action", flat=True))
    assert actions == [
        "connection.connected",
        "connection.ad_account_chosen",
        "connection.check_failed",
        "connection.disconnected",
        "connection.reconnected",
        "connection.check_passed",
        "key_mapping.changed",
        "membership.added",
    ]
    assert all(event.actor_label == "ada" for event in AuditEvent.objects.filter(project=project))
    for event in AuditEvent.objects.all():
        assert "EAAsystemuser" not in str(event.changes)


def listed(response) -> list[str]:
    return [event.action for event in response.context["cl"].result_list]


def test_the_review_screen_shows_only_the_persons_projects(trail, client):
    response = client.get(REVIEW)
    assert "connection.disconnected" in listed(response) and "key_mapping.changed" in listed(response)
    assert "sync.created" not in listed(response) and "Globex" not in response.content.decode()
    rows = rows_of(client.get(EXPORT))
    assert len(rows) == 8 and {row["project_label"] for row in rows} == {"Acme"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"action": "connection.disconnected"}, ["connection.disconnected"]),
        ({"action": "connection.check_failed"}, ["connection.check_failed"]),
        ({"actor_label": "ada", "action": "membership.added"}, ["membership.added"]),
        ({"actor_label": "nobody"}, []),
        ({"created_at__lt": (timezone.now() - timedelta(days=1)).isoformat()}, []),
        (
            {"created_at__gte": (timezone.now() - timedelta(days=1)).isoformat(), "action": "connection.connected"},
            ["connection.connected"],
        ),
    ],
)
def test_the_review_filters_and_the_csv_export_agree(trail, client, project, query, expected):
    listing = client.get(REVIEW, query)
    assert listing.status_code == 200
    rows = rows_of(client.get(EXPORT, query))
    assert [row["action"] for row in rows] == expected == listed(listing)


def test_the_project_filter_offers_only_the_persons_projects_and_filters(trail, client, project, other_project):
    page = client.get(REVIEW).content.decode()
    assert f"project__id__exact={project.pk}" in page
    assert f"project__id__exact={other_project.pk}" not in page
    assert len(rows_of(client.get(EXPORT, {"project__id__exact": project.pk}))) == 8
    assert rows_of(client.get(EXPORT, {"project__id__exact": other_project.pk})) == []


def test_the_csv_cannot_smuggle_a_spreadsheet_formula(trail, client, project):
    audit_record(action="key_mapping.changed", actor=trail["ada"], project=project, changes={"mapping": "x"})
    AuditEvent.objects.filter(action="key_mapping.changed").update(target_label="=HYPERLINK(\"http://x\")")
    rows = rows_of(client.get(EXPORT, {"action": "key_mapping.changed"}))
    assert rows and all(row["target_label"].startswith("'=") for row in rows)


def test_a_viewer_of_the_project_can_review_but_an_outsider_cannot_export_it(trail, client, project, make_member):
    client.force_login(make_member(project, Role.VIEWER, username="vic"))
    assert len(rows_of(client.get(EXPORT))) == 8
    client.force_login(trail["bob"])
    rows = rows_of(client.get(EXPORT))
    assert [row["action"] for row in rows] == ["sync.created"]

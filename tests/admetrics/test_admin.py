"""Admin doors: the import records, the backfill page (operators and admins, POST with CSRF), the schedule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from config.schedules import declared_schedules
from integrations.admetrics import services
from integrations.admetrics.models import AdInsightImport
from integrations.models import AuditEvent, FacebookConnection

BACKFILL = reverse("admin:admetrics_adinsightimport_backfill")
IMPORTS = reverse("admin:admetrics_adinsightimport_changelist")


@pytest.fixture
def connection(project) -> FacebookConnection:
    return FacebookConnection.objects.create(
        project=project,
        ad_account_id="act_1",
        ad_account_name="Main",
        status=FacebookConnection.Status.ACTIVE,
        access_token="EAAsecret",
    )


@pytest.fixture
def other_connection(other_project) -> FacebookConnection:
    return FacebookConnection.objects.create(
        project=other_project, ad_account_id="act_9", status=FacebookConnection.Status.ACTIVE, access_token="EAAx"
    )


def backfill_data(connection, days_back: int = 10) -> dict:
    today = timezone.localdate()
    return {
        "connection": connection.pk,
        "since": (today - timedelta(days=days_back)).isoformat(),
        "until": (today - timedelta(days=1)).isoformat(),
    }


@pytest.mark.parametrize("role", ["operator", "admin"])
def test_operators_and_admins_backfill_a_range_with_csrf(
    role, connection, project, make_member, django_capture_on_commit_callbacks
):
    browser = Client(enforce_csrf_checks=True)
    user = make_member(project, role)
    browser.force_login(user)
    form = browser.get(BACKFILL, {"connection": connection.pk})
    assert form.status_code == 200 and "Backfill" in form.content.decode()

    assert browser.post(BACKFILL, backfill_data(connection)).status_code == 403  # no CSRF token
    token = browser.cookies["csrftoken"].value
    with django_capture_on_commit_callbacks() as queued:
        answer = browser.post(BACKFILL, {**backfill_data(connection), "csrfmiddlewaretoken": token})

    record = AdInsightImport.objects.get()
    assert answer.status_code == 302 and answer["Location"] == reverse(
        "admin:admetrics_adinsightimport_change", args=[record.pk]
    )
    assert (record.kind, record.status, record.days, record.requested_by) == ("backfill", "queued", 10, user)
    assert len(queued) == 1  # the task is sent once the record is committed
    event = AuditEvent.objects.get(action=services.BACKFILL_REQUESTED)
    assert event.project == project and event.changes["import"] == record.pk


def test_viewers_cannot_backfill(connection, project, make_member, client):
    client.force_login(make_member(project, "viewer"))
    assert client.get(BACKFILL).status_code == 403
    assert client.post(BACKFILL, backfill_data(connection)).status_code == 403
    assert not AdInsightImport.objects.exists()
    assert "Backfill a range" not in client.get(IMPORTS).content.decode()


def test_another_projects_ad_account_is_not_offered(connection, other_connection, project, make_member, client):
    client.force_login(make_member(project, "operator"))
    answer = client.post(BACKFILL, backfill_data(other_connection))
    assert answer.status_code == 200 and "connection" in answer.context["form"].errors
    assert "act_9" not in client.get(BACKFILL).content.decode()
    assert not AdInsightImport.objects.exists()


def test_ranges_facebook_cannot_serve_are_refused_on_the_form(connection, project, make_member, client):
    client.force_login(make_member(project, "operator"))
    today = timezone.localdate()
    future = {**backfill_data(connection), "until": (today + timedelta(days=3)).isoformat()}
    assert "cannot be after today" in client.post(BACKFILL, future).content.decode()
    ancient = {**backfill_data(connection), "since": (today - timedelta(days=1500)).isoformat()}
    assert "37 months" in client.post(BACKFILL, ancient).content.decode()
    assert not AdInsightImport.objects.exists()


def test_import_records_show_the_problem_and_its_fix_in_the_persons_projects_only(
    connection, other_connection, project, make_member, client
):
    day = timezone.localdate()
    mine = AdInsightImport.objects.create(
        project=project,
        connection=connection,
        ad_account_id="act_1",
        kind="daily",
        status="failed",
        since=day,
        until=day,
        error_message="Facebook's report run 1 ended with 'Job Failed' at 30%.",
        error_fix="Run the backfill again later, or in shorter ranges.",
    )
    theirs = AdInsightImport.objects.create(
        project=other_connection.project, ad_account_id="act_9", kind="daily", since=day, until=day
    )
    client.force_login(make_member(project, "viewer"))
    listing = client.get(IMPORTS).content.decode()
    assert "Job Failed" in listing and "shorter ranges" in listing and "act_9" not in listing
    assert client.get(reverse("admin:admetrics_adinsightimport_change", args=[mine.pk])).status_code == 200
    assert client.get(reverse("admin:admetrics_adinsightimport_change", args=[theirs.pk])).status_code == 404


def test_the_daily_schedule_queues_one_import_per_connected_ad_account(
    connection, other_connection, project, django_capture_on_commit_callbacks
):
    FacebookConnection.objects.create(project=project, ad_account_id="act_2", status="disconnected")
    assert any(spec.func == "integrations.admetrics.tasks.insights_imports_daily" for spec in declared_schedules())
    with django_capture_on_commit_callbacks() as queued:
        records = services.insights_imports_daily_queue(today=timezone.localdate())
    assert sorted(r.ad_account_id for r in records) == ["act_1", "act_9"]
    assert all(r.kind == "daily" and r.days == 29 for r in records)
    assert len(queued) == 2

"""The sync job pages: create, run now, pause, resume, approve, delete; who may do what; the audit trail."""

from __future__ import annotations

import json
import re

import pytest
import responses
from django.conf import settings
from django.urls import reverse

from cohorts.models import Cohort
from integrations.models import AuditEvent, FacebookConnection
from syncs.models import SyncJob

pytestmark = pytest.mark.django_db

GRAPH = re.escape(f"{settings.FACEBOOK_GRAPH_URL}/{settings.FACEBOOK_GRAPH_VERSION}/")


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr("syncs.services.async_task", lambda *args, **kwargs: calls.append(args))
    return calls


@pytest.fixture
def setup(project):
    connection = FacebookConnection.objects.create(
        project=project, ad_account_id="act_77", ad_account_name="Main account", status="active",
        access_token="EAAB-admin-test",
    )
    cohort = Cohort.objects.create(project=project, amplitude_cohort_id="c9", name="Churn risk")
    return connection, cohort


def make_job(setup, **kwargs) -> SyncJob:
    connection, cohort = setup
    return SyncJob.objects.create(cohort=cohort, connection=connection, audience_name="Churn risk",
                                  audience_id="6001", **kwargs)


def test_sync_to_facebook_creates_the_audience_the_job_its_schedule_and_queues_the_first_run(
    client, project, make_member, setup, queued, django_capture_on_commit_callbacks
):
    connection, cohort = setup
    client.force_login(make_member(project, "operator"))
    url = reverse("admin:syncs_syncjob_create")
    assert "Churn risk" in client.get(url + f"?cohort={cohort.pk}").content.decode()
    with responses.RequestsMock() as mock:
        created = mock.post(re.compile(GRAPH + r"act_77/customaudiences"), json={"id": "6009"})
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(url, {"cohort": cohort.pk, "connection": connection.pk, "cadence": "cron",
                                         "cron_expression": "0 6 * * *", "mode": "changes", "audience": "new"})
    job = SyncJob.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/{job.pk}/change/")
    body = json.loads(created.calls[0].request.body)
    assert body["customer_file_source"] == "USER_PROVIDED_ONLY" and body["name"] == "Churn risk"
    assert (job.audience_id, job.cadence, job.cron_expression, job.enabled) == ("6009", "cron", "0 6 * * *", True)
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name=f"sync-job-{job.pk}")
    assert (schedule.schedule_type, schedule.cron) == ("C", "0 6 * * *")
    assert queued and queued[0][1] == job.pk
    event = AuditEvent.objects.get(action="sync.created")
    assert event.changes["audience_id"] == "6009" and event.actor.username == "operator-acme"


def test_a_bad_cron_expression_is_refused_with_an_example(client, project, make_member, setup):
    connection, cohort = setup
    client.force_login(make_member(project, "operator"))
    response = client.post(reverse("admin:syncs_syncjob_create"), {
        "cohort": cohort.pk, "connection": connection.pk, "cadence": "cron", "cron_expression": "every day",
        "mode": "changes", "audience": "new"})
    assert response.status_code == 200
    assert "is not a cron expression" in response.content.decode() and "0 6 * * *" in response.content.decode()
    assert not SyncJob.objects.exists()


def test_facebook_refusing_the_audience_shows_why_and_creates_no_job(client, project, make_member, setup):
    connection, cohort = setup
    client.force_login(make_member(project, "operator"))
    with responses.RequestsMock() as mock:
        mock.post(re.compile(GRAPH + r"act_77/customaudiences"), status=400, json={"error": {
            "code": 2655, "type": "OAuthException",
            "message": "Terms of service has not been accepted. To accept, go to "
                       "https://www.facebook.com/customaudiences/app/tos/?act=77"}})
        response = client.post(reverse("admin:syncs_syncjob_create"), {
            "cohort": cohort.pk, "connection": connection.pk, "cadence": "daily", "mode": "changes",
            "audience": "new"})
    page = response.content.decode()
    assert response.status_code == 200 and "Custom Audience Terms" in page
    assert not SyncJob.objects.exists()


def test_pause_resume_and_run_now_each_leave_one_audit_event(client, project, make_member, setup, queued,
                                                             django_capture_on_commit_callbacks):
    job = make_job(setup)
    client.force_login(make_member(project, "operator"))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:syncs_syncjob_pause", args=[job.pk]))
        job.refresh_from_db()
        assert (job.enabled, job.status) == (False, "paused")
        client.post(reverse("admin:syncs_syncjob_resume", args=[job.pk]))
        job.refresh_from_db()
        assert (job.enabled, job.status) == (True, "new")
        client.post(reverse("admin:syncs_syncjob_run_now", args=[job.pk]))
    actions = list(AuditEvent.objects.order_by("created_at", "id").values_list("action", flat=True))
    assert actions == ["sync.paused", "sync.resumed", "sync.run_manually"]
    assert len(queued) == 2  # resume and run now each queue a run


def test_viewers_cannot_act_and_strangers_cannot_see(client, project, other_project, make_member, setup):
    job = make_job(setup)
    client.force_login(make_member(project, "viewer"))
    for name in ["run_now", "pause", "resume", "approve", "recreate"]:
        assert client.post(reverse(f"admin:syncs_syncjob_{name}", args=[job.pk])).status_code == 403, name
    assert client.get(reverse("admin:syncs_syncjob_create")).status_code == 403
    client.force_login(make_member(other_project, "admin"))
    assert client.post(reverse("admin:syncs_syncjob_run_now", args=[job.pk])).status_code == 404
    assert client.get(reverse("admin:syncs_syncjob_change", args=[job.pk])).status_code == 404


def test_only_project_admins_approve_removals_and_delete(client, project, make_member, setup, queued):
    job = make_job(setup, status="awaiting_approval")
    client.force_login(make_member(project, "operator"))
    assert client.post(reverse("admin:syncs_syncjob_approve", args=[job.pk])).status_code == 403
    assert client.get(reverse("admin:syncs_syncjob_delete_sync", args=[job.pk])).status_code == 403
    client.force_login(make_member(project, "admin"))
    client.post(reverse("admin:syncs_syncjob_approve", args=[job.pk]))
    job.refresh_from_db()
    assert job.removals_approved_at is not None and job.status == "new"


def test_delete_asks_about_the_audience_and_deletes_it_at_facebook_when_asked(client, project, make_member, setup):
    job = make_job(setup)
    client.force_login(make_member(project, "admin"))
    page = client.get(reverse("admin:syncs_syncjob_delete_sync", args=[job.pk])).content.decode()
    assert "Also delete the custom audience at Facebook" in page
    with responses.RequestsMock() as mock:
        deleted = mock.delete(re.compile(GRAPH + "6001"), json={"success": True})
        response = client.post(reverse("admin:syncs_syncjob_delete_sync", args=[job.pk]), {"delete_audience": "on"})
    assert response.status_code == 302
    assert len(deleted.calls) == 1
    assert not SyncJob.objects.exists()
    event = AuditEvent.objects.get(action="sync.deleted")
    assert event.changes["audience_deleted_at_facebook"] is True


def test_the_job_page_says_what_is_wrong_and_how_big_the_audience_is(client, project, make_member, setup):
    job = make_job(setup, status="needs_attention", status_reason="The audience was deleted at Facebook.",
                   status_fix="Use 'Recreate audience' to create it again.", audience_lower_bound=0,
                   audience_upper_bound=1000)
    client.force_login(make_member(project, "operator"))
    page = client.get(reverse("admin:syncs_syncjob_change", args=[job.pk])).content.decode()
    assert "The audience was deleted at Facebook." in page and "Recreate audience" in page
    assert "below 1,000" in page and "up to a day" in page

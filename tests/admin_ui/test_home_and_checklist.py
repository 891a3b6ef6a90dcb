"""The admin home (health per project) and the project page's setup checklist."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cohorts.models import AmplitudeUsage, Cohort
from cohorts.services import usage_month
from integrations.models import FacebookConnection, KeyMapping
from syncs.models import SyncJob
from syncs.pausing import connection_hold_reason

from .conftest import seen

pytestmark = pytest.mark.django_db

HOME = "/admin/"


def test_the_home_lists_what_needs_attention_with_the_fix_per_project(client, world, operator):
    project = world.project
    FacebookConnection.objects.create(
        project=project, ad_account_id="act_43", ad_account_name="Terms pending", status="needs_attention",
        problem_code="terms_not_accepted", problem_message="The Custom Audience Terms are not accepted.",
        problem_fix="Terry Terms must accept them at https://business.facebook.com/ads/manage/customaudiences/tos/",
    )
    cohort = world.cohort
    now = timezone.now()
    SyncJob.objects.create(cohort=cohort, connection=world.connection, audience_name="Paused one", audience_id="1",
                           enabled=False, status="paused", status_reason="Paused by a person.")
    SyncJob.objects.create(cohort=cohort, connection=world.connection, audience_name="Held one", audience_id="2",
                           status="needs_attention", status_reason=connection_hold_reason("Terms not accepted."),
                           status_fix="Accept the Terms.")
    SyncJob.objects.create(cohort=cohort, connection=world.connection, audience_name="Waiting one", audience_id="3",
                           status="awaiting_approval", status_reason="This run would remove 40% of the audience.",
                           status_fix="A project admin can approve the removal on the job's page.")
    SyncJob.objects.filter(pk=world.job.pk).update(status="succeeded", last_success_at=now - timedelta(hours=3),
                                                   audience_lower_bound=0, audience_upper_bound=1000)
    AmplitudeUsage.objects.create(project=project, month=usage_month(), download_requests=37)
    client.force_login(operator)
    text = seen(client.get(HOME))
    assert "Acme — 4 things need attention" in text
    assert "Facebook: Terms pending: The Custom Audience Terms are not accepted. Fix: Terry Terms must accept" in text
    assert "Sync Paused one: Paused by a person." in text
    assert "Sync Held one: Facebook connection: Terms not accepted. Fix: Accept the Terms." in text
    assert "Sync Waiting one: This run would remove 40% of the audience." in text
    assert f"Healthy {(now - timedelta(hours=3)):%Y-%m-%d %H:%M} (3 hours ago)" in text
    assert "below 1,000" in text
    assert "Amplitude: 37 of 500 downloads this month." in text
    assert "Sync jobs" in text  # Django's own app list is still there


def test_the_home_shows_only_the_persons_projects_and_a_healthy_one_says_so(client, world, other_project,
                                                                            make_member):
    Cohort.objects.create(project=other_project, amplitude_cohort_id="x", name="Globex cohort")
    FacebookConnection.objects.create(project=other_project, ad_account_id="act_9", status="needs_attention",
                                      problem_message="Globex problem")
    client.force_login(make_member(world.project, "viewer"))
    text = seen(client.get(HOME))
    assert "Acme — everything is healthy" in text
    assert "Globex" not in text


def test_the_home_warns_a_week_before_the_token_expires(client, world, operator):
    soon = timezone.now() + timedelta(days=3, hours=1)
    FacebookConnection.objects.filter(pk=world.connection.pk).update(token_expires_at=soon)
    client.force_login(operator)
    text = seen(client.get(HOME))
    assert "Acme — 1 thing needs attention" in text and "The Facebook token expires in 3 days" in text


def test_the_home_query_count_does_not_grow_with_projects_or_jobs(client, superuser, make_world, project,
                                                                  other_project):
    make_world(project, n=2)
    client.force_login(superuser)
    with CaptureQueriesContext(connection) as few:
        assert client.get(HOME).status_code == 200
    make_world(project, n=20)
    make_world(other_project, n=20)
    with CaptureQueriesContext(connection) as many:
        assert client.get(HOME).status_code == 200
    assert len(many) == len(few) <= 12, [q["sql"][:120] for q in many.captured_queries]


# --- the setup checklist -----------------------------------------------------------------------------


def steps(client, project) -> list:
    return client.get(reverse("admin:integrations_project_change", args=[project.pk])).context["setup_steps"]


def test_a_new_project_starts_with_connect_and_each_step_links_to_its_page(client, project, make_member):
    client.force_login(make_member(project, "admin"))
    response = client.get(reverse("admin:integrations_project_change", args=[project.pk]))
    titles = [step.title for step in response.context["setup_steps"]]
    assert titles == ["Connect with Facebook", "Custom Audience Terms accepted", "Ad account in a Business Manager",
                      "Key mappings with an identifying key", "A cohort synced"]
    first, *_, mapping, synced = response.context["setup_steps"]
    assert not first.done and first.url.endswith("#facebook-connections")
    assert mapping.url == reverse("admin:integrations_keymapping_add") + f"?project={project.pk}"
    assert synced.url.startswith(reverse("admin:cohorts_cohort_changelist"))
    text = seen(response)
    assert "Setup checklist" in text and "Connect with Facebook — next step" in text


def test_the_terms_step_shows_the_connections_fix_until_accepted(client, project, make_member):
    connection = FacebookConnection.objects.create(
        project=project, ad_account_id="act_5", access_token="EAAB-x", status="needs_attention",
        terms_status="not_accepted", business_id="77", business_name="Acme BM", facebook_user_name="Terry Terms",
        problem_code="terms_not_accepted", problem_message="The Custom Audience Terms are not accepted.",
        problem_fix="Terry Terms must accept them: https://business.facebook.com/ads/manage/customaudiences/tos/?act=5",
    )
    client.force_login(make_member(project, "admin"))
    connect, terms, business, *_ = steps(client, project)
    assert connect.done and not terms.done and business.done
    assert terms.todo.startswith("Terry Terms must accept them")
    assert terms.url == reverse("admin:integrations_facebookconnection_change", args=[connection.pk])
    page = client.get(reverse("admin:integrations_project_change", args=[project.pk])).content.decode()
    assert 'href="https://business.facebook.com/ads/manage/customaudiences/tos/?act=5"' in page

    FacebookConnection.objects.filter(pk=connection.pk).update(terms_status="accepted", status="active",
                                                               problem_code="", problem_message="", problem_fix="")
    assert [step.done for step in steps(client, project)] == [True, True, True, False, False]


def test_mappings_and_a_synced_cohort_complete_the_checklist(client, world, make_member):
    client.force_login(make_member(world.project, "admin"))
    *_, mapping, synced = steps(client, world.project)
    assert mapping.done and "EMAIL, PHONE" in mapping.detail
    assert not synced.done and synced.url == reverse("admin:syncs_syncjob_change", args=[world.job.pk])
    SyncJob.objects.filter(pk=world.job.pk).update(last_success_at=timezone.now(), status="succeeded")
    assert all(step.done for step in steps(client, world.project))
    assert "Setup checklist: complete" in seen(
        client.get(reverse("admin:integrations_project_change", args=[world.project.pk])))


def test_a_mapping_without_an_identifying_key_is_not_done(client, project, make_member):
    KeyMapping.objects.create(project=project, facebook_key="FN", source="user_property", property_name="first")
    client.force_login(make_member(project, "viewer"))
    mapping = steps(client, project)[3]
    assert not mapping.done and "none of which identifies a person" in mapping.detail
    assert not mapping.allowed  # a viewer is told who can do it instead of getting a link to a 403


def test_the_project_page_never_shows_the_amplitude_secrets_and_keeps_them_when_left_empty(client, project,
                                                                                           make_member):
    project.amplitude_api_key, project.amplitude_secret_key = "amp-api-key-123", "amp-secret-456"
    project.save()
    client.force_login(make_member(project, "admin"))
    url = reverse("admin:integrations_project_change", args=[project.pk])
    page = client.get(url).content.decode()
    assert "amp-api-key-123" not in page and "amp-secret-456" not in page
    assert 'type="password"' in page
    response = client.post(url, {"name": "Acme", "slug": "acme", "amplitude_region": "US", "default_country": "US",
                                 "time_zone": "UTC", "amplitude_api_key": "", "amplitude_secret_key": ""})
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.amplitude_api_key, project.amplitude_secret_key) == ("amp-api-key-123", "amp-secret-456")

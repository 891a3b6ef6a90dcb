"""The database itself refuses inconsistent rows, whatever path writes them."""

from __future__ import annotations

import pytest
from django.db import DataError, IntegrityError, transaction

from cohorts.models import AmplitudeUsage, Cohort
from integrations.models import FacebookConnection, KeyMapping, Project, ProjectMembership
from syncs.models import AudienceMember, SyncBatch, SyncJob, SyncRun

pytestmark = pytest.mark.django_db


def refused(create) -> bool:
    try:
        with transaction.atomic():
            create()
    except (IntegrityError, DataError):  # PostgreSQL refuses over-long values with DataError
        return True
    return False


def test_project_country_must_be_an_iso_code_in_capitals():
    assert refused(lambda: Project.objects.create(name="x", slug="x", default_country="us"))
    assert refused(lambda: Project.objects.create(name="x", slug="x2", default_country="USA"))
    assert not refused(lambda: Project.objects.create(name="x", slug="x3", default_country="US"))
    assert not refused(lambda: Project.objects.create(name="x", slug="x4", default_country=""))


def test_project_slug_is_unique_and_region_known():
    Project.objects.create(name="a", slug="a")
    assert refused(lambda: Project.objects.create(name="b", slug="a"))
    assert refused(lambda: Project.objects.create(name="c", slug="c", amplitude_region="APAC"))


def test_one_membership_per_user_and_project_with_a_known_role(project, make_member):
    user = make_member(project, "viewer")
    assert refused(lambda: ProjectMembership.objects.create(user=user, project=project, role="admin"))
    other = Project.objects.create(name="o", slug="o")
    assert refused(lambda: ProjectMembership.objects.create(user=user, project=other, role="owner"))


def test_connection_ad_account_format_uniqueness_and_active_needs_an_account(project):
    assert refused(lambda: FacebookConnection.objects.create(project=project, ad_account_id="123"))
    assert refused(lambda: FacebookConnection.objects.create(project=project, status="active"))
    FacebookConnection.objects.create(project=project, ad_account_id="act_1", status="active")
    assert refused(lambda: FacebookConnection.objects.create(project=project, ad_account_id="act_1"))
    # Several connections still waiting for their ad account are fine.
    FacebookConnection.objects.create(project=project)
    FacebookConnection.objects.create(project=project)


def test_key_mapping_property_name_only_for_properties_and_one_per_key(project):
    assert refused(lambda: KeyMapping.objects.create(project=project, facebook_key="EMAIL", source="user_property"))
    assert refused(
        lambda: KeyMapping.objects.create(project=project, facebook_key="EMAIL", source="user_id", property_name="x")
    )
    assert refused(lambda: KeyMapping.objects.create(project=project, facebook_key="SSN", source="user_id"))
    KeyMapping.objects.create(project=project, facebook_key="EXTERN_ID", source="user_id")
    assert refused(lambda: KeyMapping.objects.create(project=project, facebook_key="EXTERN_ID", source="device_id"))


def test_amplitude_cohorts_need_their_id_once_per_project(project):
    assert refused(lambda: Cohort.objects.create(project=project, name="no id"))
    Cohort.objects.create(project=project, name="a", amplitude_cohort_id="abc")
    assert refused(lambda: Cohort.objects.create(project=project, name="b", amplitude_cohort_id="abc"))
    Cohort.objects.create(project=project, name="csv", source="csv")


def test_usage_is_counted_per_calendar_month(project):
    assert refused(lambda: AmplitudeUsage.objects.create(project=project, month="2026-11-15"))
    AmplitudeUsage.objects.create(project=project, month="2026-11-01")
    assert refused(lambda: AmplitudeUsage.objects.create(project=project, month="2026-11-01"))


def test_sync_job_cron_expression_and_audience_uniqueness(make_world, project):
    world = make_world(project)
    job = world["jobs"][0]
    assert refused(
        lambda: SyncJob.objects.create(
            cohort=job.cohort, connection=job.connection, audience_name="c", cadence="cron"
        )
    )
    assert refused(
        lambda: SyncJob.objects.create(
            cohort=job.cohort, connection=job.connection, audience_name="d", cron_expression="0 * * * *"
        )
    )
    assert refused(
        lambda: SyncJob.objects.create(
            cohort=job.cohort, connection=job.connection, audience_name="e", audience_id=job.audience_id
        )
    )


def test_at_most_one_running_run_per_job(make_world, project):
    job = make_world(project)["jobs"][0]
    SyncRun.objects.create(job=job, status="running")
    assert refused(lambda: SyncRun.objects.create(job=job, status="running"))
    SyncRun.objects.create(job=job, status="failed")  # finished runs are unlimited


def test_batches_and_ledger_rows_are_unique(make_world, project):
    world = make_world(project)
    run, job = world["runs"][0], world["jobs"][0]
    assert refused(lambda: SyncBatch.objects.create(run=run, operation="add", sequence=1))
    assert refused(lambda: AudienceMember.objects.create(job=job, row_hash=0, row="[]"))

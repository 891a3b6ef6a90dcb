"""Shared fixtures: users with roles in projects, and an admin client per role."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from integrations.models import Project, ProjectMembership


@pytest.fixture
def project(db) -> Project:
    return Project.objects.create(name="Acme", slug="acme", default_country="US")


@pytest.fixture
def other_project(db) -> Project:
    return Project.objects.create(name="Globex", slug="globex", default_country="GB")


@pytest.fixture
def make_member(db):
    """make_member(project, role) -> a staff user with that role in that project."""

    def make(project: Project, role: str, username: str | None = None):
        user = get_user_model().objects.create_user(
            username=username or f"{role}-{project.slug}", password="pw", is_staff=True
        )
        ProjectMembership.objects.create(user=user, project=project, role=role)
        return user

    return make


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", password="pw")


@pytest.fixture
def make_world(db):
    """make_world(project, n=1): one of everything the admin shows, `n` times, in `project`."""
    from cohorts.models import AmplitudeUsage, Cohort, CohortImport, CohortMember
    from integrations.audit import audit_record
    from integrations.models import FacebookConnection, KeyMapping
    from syncs.models import AudienceMember, SyncBatch, SyncJob, SyncRun

    def make(project: Project, n: int = 1) -> dict:
        world: dict[str, list] = {}
        tag = project.slug
        start = FacebookConnection.objects.filter(project=project).count()
        for i in range(start, start + n):
            connection = FacebookConnection.objects.create(
                project=project,
                ad_account_id=f"act_{100 + i}",
                ad_account_name=f"{tag} account {i}",
                status=FacebookConnection.Status.ACTIVE,
                access_token=f"EAAB-secret-token-{tag}-{i}",
            )
            cohort = Cohort.objects.create(
                project=project, amplitude_cohort_id=f"{tag}{i}", name=f"{tag} cohort {i}", size=10
            )
            CohortMember.objects.create(cohort=cohort, row_hash=i, row='["a"]')
            CohortImport.objects.create(cohort=cohort, source="amplitude", status="succeeded")
            job = SyncJob.objects.create(
                cohort=cohort, connection=connection, audience_name=f"{tag} audience {i}", audience_id=f"{i + 1}"
            )
            run = SyncRun.objects.create(job=job, status=SyncRun.Status.SUCCEEDED)
            batch = SyncBatch.objects.create(run=run, operation="add", sequence=1, status="confirmed", rows_sent=1)
            AudienceMember.objects.create(job=job, row_hash=i, row='["a"]', added_batch=batch)
            audit_record(action="sync.created", project=project, target=job)
            world.setdefault("connections", []).append(connection)
            world.setdefault("cohorts", []).append(cohort)
            world.setdefault("jobs", []).append(job)
            world.setdefault("runs", []).append(run)
            world.setdefault("batches", []).append(batch)
        KeyMapping.objects.get_or_create(project=project, facebook_key="EMAIL", defaults={
            "source": "user_property", "property_name": "email"})
        AmplitudeUsage.objects.get_or_create(project=project, month="2026-11-01", defaults={"download_requests": 3})
        return world

    return make


@pytest.fixture(scope="session")
def live_server(django_db_setup, live_server):
    """pytest-django's live server, stopped before the test database is dropped.

    Without the dependency, the session's teardown may drop the database first, while the
    server's thread still holds a PostgreSQL session on it.
    """
    return live_server

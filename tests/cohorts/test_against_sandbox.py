"""Cohorts refreshed from the Amplitude sandbox over real HTTP (the live server serves /sandbox/)."""

from __future__ import annotations

import time
import tracemalloc

import pytest
from django.conf import settings

from cohorts.models import AmplitudeUsage, Cohort, CohortImport, CohortMember
from cohorts.services import cohort_members_refresh, cohorts_sync_from_amplitude
from integrations.key_mappings import project_key_plan
from integrations.models import KeyMapping, Project
from integrations.sandbox.amplitude import services as sandbox

# Fixed bound on the refresh's peak traced memory: encoding works on 10,000-row chunks and
# stored hashes take 8 bytes each, so the peak does not grow with the cohort; 200,000 rows
# held as Python objects would take several times this.
PEAK_BOUND_BYTES = 40 * 1024 * 1024


@pytest.fixture
def sandbox_project(live_server, transactional_db, settings) -> Project:
    assert f"{live_server.url}/sandbox" == settings.AMPLITUDE_API_URL
    settings.AMPLITUDE_POLL_INTERVAL_SECONDS = 0.05
    settings.AMPLITUDE_POLL_MAX_INTERVAL_SECONDS = 0.2
    project = Project.objects.create(
        name="Demo",
        slug="demo-sbx",
        default_country="US",
        amplitude_api_key="sandbox-api-key",
        amplitude_secret_key="sandbox-secret-key",
    )
    for key, source, prop in [
        ("EXTERN_ID", "user_id", ""),
        ("EMAIL", "user_property", "email"),
        ("PHONE", "user_property", "phone"),
        ("FN", "user_property", "first_name"),
        ("LN", "user_property", "last_name"),
        ("COUNTRY", "user_property", "country"),
        ("MADID", "device_id", ""),
    ]:
        KeyMapping.objects.create(project=project, facebook_key=key, source=source, property_name=prop)
    return project


def downloads(project: Project) -> int:
    usage = AmplitudeUsage.objects.filter(project=project).first()
    return usage.download_requests if usage else 0


def test_cohort_list_refresh_from_the_sandbox(sandbox_project):
    result = cohorts_sync_from_amplitude(project=sandbox_project)
    assert result.created >= 5
    names = set(Cohort.objects.filter(project=sandbox_project).values_list("name", flat=True))
    assert {"Power users", "Trial users", "Newsletter subscribers"} <= names
    assert Cohort.objects.get(project=sandbox_project, amplitude_cohort_id="sbx200k").size == 200_000


def test_refresh_then_unchanged_refresh_makes_no_download(sandbox_project):
    remote = sandbox.sandbox_cohort_create(size=2_000, name="Two thousand", seed=21)
    cohorts_sync_from_amplitude(project=sandbox_project)
    cohort = Cohort.objects.get(project=sandbox_project, amplitude_cohort_id=remote.cohort_id)

    first = cohort_members_refresh(cohort=cohort)
    assert first.status == CohortImport.Status.SUCCEEDED
    assert first.rows_read == 2_000
    assert 1_900 < first.members_after <= 2_000  # a few members have no usable key
    assert downloads(sandbox_project) == 1

    second = cohort_members_refresh(cohort=cohort)
    assert second.status == CohortImport.Status.SKIPPED
    assert downloads(sandbox_project) == 1

    change = sandbox.sandbox_cohort_change(cohort=remote, percent=3)
    third = cohort_members_refresh(cohort=cohort)
    assert third.status == CohortImport.Status.SUCCEEDED
    assert downloads(sandbox_project) == 2
    # Leavers and changed emails are removed; joiners and new emails added (a few lack keys).
    assert change.changed - 5 <= third.members_removed <= change.changed
    assert change.joined + change.email_changed - 5 <= third.members_added <= change.joined + change.email_changed


@pytest.mark.slow
def test_a_200k_cohort_downloads_with_flat_memory(sandbox_project):
    # Two keys: tracing every allocation slows encoding several times over.
    KeyMapping.objects.filter(project=sandbox_project).exclude(facebook_key__in=["EXTERN_ID", "EMAIL"]).delete()
    remote = sandbox.sandbox_cohort_create(size=200_000, name="Two hundred thousand", seed=200)
    cohorts_sync_from_amplitude(project=sandbox_project)
    cohort = Cohort.objects.get(project=sandbox_project, amplitude_cohort_id=remote.cohort_id)
    prop_keys = project_key_plan(sandbox_project).prop_keys
    assert prop_keys == ["email"]
    # The sandbox writes the file once per membership (cached on disk): not part of what is measured.
    sandbox.sandbox_export_warm(cohort=remote, prop_keys=prop_keys)

    tracemalloc.start()
    started = time.perf_counter()
    try:
        record = cohort_members_refresh(cohort=cohort)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started

    assert record.rows_read == 200_000
    assert record.members_after > 190_000
    assert CohortMember.objects.filter(cohort=cohort).count() == record.members_after
    assert peak < PEAK_BOUND_BYTES, f"peak traced memory {peak / 2**20:.1f} MiB"
    print(f"\n200k download+import: {elapsed:.1f} s, peak traced {peak / 2**20:.1f} MiB, stages {record.stage_seconds}")
    assert settings.AMPLITUDE_API_URL.endswith("/sandbox")

"""A world to sync in: the two sandboxes over real HTTP, a project with keys, a connection, jobs.

As in tests/syncs/test_sync_against_sandbox.py: pytest-django's live server serves the
Facebook and Amplitude sandboxes, runs are started by the tests (the queue is stubbed),
and what the audience must hold is computed independently of the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cohorts.models import Cohort
from cohorts.services import cohorts_sync_from_amplitude
from integrations.facebook.match_keys import encode_rows
from integrations.models import FacebookConnection, KeyMapping, Project
from integrations.sandbox import services as fb_sandbox
from integrations.sandbox.amplitude import services as amp_sandbox
from integrations.sandbox.amplitude.exports import member_properties
from integrations.sandbox.models import SandboxAudience
from integrations.sandbox.selectors import audience_rows_digest, audience_stored_digest
from syncs.models import SyncJob
from syncs.services import SyncJobSpec, sync_job_create

SCHEMA = ["EMAIL", "PHONE"]


@dataclass
class World:
    project: Project
    connection: FacebookConnection
    token: str
    ready: fb_sandbox.SeededPerson
    amp_project: object

    def amplitude_job(self, *, size: int, seed: int = 11, name: str = "Buyers") -> tuple[SyncJob, object]:
        amp_cohort = amp_sandbox.sandbox_cohort_create(size=size, name=name, seed=seed, project=self.amp_project)
        cohorts_sync_from_amplitude(project=self.project)
        cohort = Cohort.objects.get(project=self.project, amplitude_cohort_id=amp_cohort.cohort_id)
        return self.job_for(cohort), amp_cohort

    def job_for(self, cohort: Cohort) -> SyncJob:
        return sync_job_create(spec=SyncJobSpec(cohort=cohort, connection=self.connection, cadence="daily"))


def raw_members(amp_cohort) -> list[list[str]]:
    """The cohort's (email, phone) as Amplitude exports them, from the shared population."""
    amp_cohort.refresh_from_db()
    shape = amp_sandbox.cohort_shape(amp_cohort)
    return [[props["email"], props["phone"]] for _, props in member_properties(shape)]


def expected_digest(amp_cohort) -> tuple[int, str]:
    encoded = encode_rows(SCHEMA, raw_members(amp_cohort), default_country="US").rows
    return len({tuple(row) for row in encoded}), audience_rows_digest(encoded, schema=SCHEMA)


def held_digest(job: SyncJob) -> tuple[int, str]:
    job.refresh_from_db()
    return audience_stored_digest(audience=SandboxAudience.objects.get(fb_id=job.audience_id))


@pytest.fixture
def world(live_server, settings, monkeypatch) -> World:
    settings.GRAPH_RETRY_BASE_DELAY = 0.01
    settings.GRAPH_UNKNOWN_THROTTLE_WAIT = 0.01
    settings.AMPLITUDE_POLL_INTERVAL_SECONDS = 0.05
    settings.SYNC_UPLOAD_CONCURRENCY = 2
    monkeypatch.setattr("syncs.services.async_task", lambda *args, **kwargs: None)
    people = fb_sandbox.sandbox_seed(reset=True)
    amp_project = amp_sandbox.sandbox_amplitude_seed()
    project = Project.objects.create(
        name="Shop", slug="shop", default_country="US",
        amplitude_api_key=amp_project.api_key, amplitude_secret_key=amp_project.secret_key,
    )
    KeyMapping.objects.create(project=project, facebook_key="EMAIL", source="user_property", property_name="email")
    KeyMapping.objects.create(project=project, facebook_key="PHONE", source="user_property", property_name="phone")
    ready = people["ready"]
    token = fb_sandbox.sandbox_token_issue(person=ready.person)
    connection = FacebookConnection.objects.create(
        project=project, access_token=token, ad_account_id=ready.act_id, status="active",
        facebook_user_name=ready.person.name,
    )
    return World(project=project, connection=connection, token=token, ready=ready, amp_project=amp_project)

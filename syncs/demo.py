"""The full local demo on the sandboxes: a connected project, cohorts, key mappings, an hourly sync.

Idempotent: running it again reuses everything. It talks to the sandboxes over HTTP
like production code talks to Meta and Amplitude, so the server must be up (`serve`
runs it once the web server answers).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model

from cohorts.models import Cohort
from cohorts.services import cohorts_sync_from_amplitude
from integrations.connections import connection_ad_account_choose, connection_token_attach
from integrations.demo import DEMO_USERNAME, demo_admin_ensure, demo_project_ensure
from integrations.models import FacebookConnection, KeyMapping, Project
from integrations.sandbox.amplitude.services import sandbox_amplitude_seed
from integrations.sandbox.services import sandbox_seed, sandbox_token_issue
from syncs.models import SyncJob
from syncs.services import SyncJobSpec, sync_job_create

DEMO_MAPPINGS = [
    ("EMAIL", "email"),
    ("PHONE", "phone"),
    ("FN", "first_name"),
    ("LN", "last_name"),
    ("ZIP", "zip"),
    ("COUNTRY", "country"),
]
DEMO_COHORT_ID = "sbx5k00"  # "Trial users", 5,000 members drifting every hour


@dataclass
class Demo:
    project: Project
    connection: FacebookConnection
    jobs: list[SyncJob]
    password: str | None


def demo_key_mappings_ensure(*, project: Project) -> None:
    for key, prop in DEMO_MAPPINGS:
        KeyMapping.objects.get_or_create(
            project=project, facebook_key=key, defaults={"source": "user_property", "property_name": prop}
        )


def demo_connection_ensure(*, project: Project, actor) -> FacebookConnection:
    """Connected as the sandbox's all-good person, on their ad account."""
    ready = sandbox_seed()["ready"]
    connection = FacebookConnection.objects.filter(project=project, ad_account_id=ready.act_id).first()
    if connection is not None and connection.status == FacebookConnection.Status.ACTIVE:
        return connection
    token = sandbox_token_issue(person=ready.person)
    connection = connection_token_attach(
        project=project, connection=connection, token=token, source=FacebookConnection.TokenSource.OAUTH, actor=actor
    )
    if not connection.ad_account_id:
        connection = connection_ad_account_choose(connection=connection, ad_account_id=ready.act_id, actor=actor)
    return connection


def demo_ensure() -> Demo:
    login = demo_admin_ensure()
    admin = get_user_model().objects.get(username=DEMO_USERNAME)
    project = demo_project_ensure()
    sandbox_amplitude_seed()
    demo_key_mappings_ensure(project=project)
    connection = demo_connection_ensure(project=project, actor=admin)
    cohorts_sync_from_amplitude(project=project)
    cohort = Cohort.objects.get(project=project, amplitude_cohort_id=DEMO_COHORT_ID)
    jobs = list(SyncJob.objects.filter(cohort=cohort, connection=connection))
    if not jobs:
        jobs = [
            sync_job_create(
                spec=SyncJobSpec(cohort=cohort, connection=connection, cadence=SyncJob.Cadence.HOURLY), user=admin
            )
        ]
    return Demo(project=project, connection=connection, jobs=jobs, password=login.password)

"""Fixtures for the ops pages: a project with a connection, a cohort, a sync job with runs,
batches and ledger rows written the way the engine writes them."""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.html import strip_tags

from cohorts.encoding import row_serialize
from cohorts.models import Cohort
from integrations.models import FacebookConnection, KeyMapping, Project
from syncs.models import AudienceMember, SyncBatch, SyncJob, SyncRun


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def seen(response) -> str:
    """The page's text as a person reads it (tags gone, entities decoded, spaces collapsed)."""
    return " ".join(html.unescape(strip_tags(response.content.decode())).split())


def member_row(email: str, phone_e164_digits: str = "") -> tuple[str, int]:
    """A ledger row for the schema [EMAIL, PHONE], as the engine stores it."""
    return row_serialize([digest(email), digest(phone_e164_digits) if phone_e164_digits else ""])


@dataclass
class JobWorld:
    project: Project
    connection: FacebookConnection
    cohort: Cohort
    job: SyncJob

    def run(self, *, status: str = SyncRun.Status.SUCCEEDED, ago: timedelta = timedelta(0), **fields) -> SyncRun:
        started = timezone.now() - ago
        finished = None if status == SyncRun.Status.RUNNING else started + timedelta(minutes=2)
        return SyncRun.objects.create(job=self.job, status=status, started_at=started, finished_at=finished,
                                      heartbeat_at=started, **fields)

    def batch(self, run: SyncRun, sequence: int, **fields) -> SyncBatch:
        values = {"operation": "add", "status": SyncBatch.Status.CONFIRMED, "rows_sent": 10}
        values.update(fields)
        return SyncBatch.objects.create(run=run, sequence=sequence, **values)

    def ledger(self, email: str, *, batch: SyncBatch, phone: str = "", removed_by: SyncBatch | None = None,
               at=None) -> AudienceMember:
        text, row_hash = member_row(email, phone)
        at = at or timezone.now()
        return AudienceMember.objects.create(
            job=self.job, row_hash=row_hash, row=text, present=removed_by is None, added_at=at, added_batch=batch,
            removed_at=at + timedelta(hours=1) if removed_by else None, removed_batch=removed_by,
        )


@pytest.fixture
def world(project) -> JobWorld:
    KeyMapping.objects.create(project=project, facebook_key="EMAIL", source="user_property", property_name="email")
    KeyMapping.objects.create(project=project, facebook_key="PHONE", source="user_property", property_name="phone")
    connection = FacebookConnection.objects.create(
        project=project, ad_account_id="act_42", ad_account_name="Acme Main", status="active",
        access_token="EAAB-page-test-token", terms_status="accepted", business_id="77", business_name="Acme BM",
        facebook_user_name="Robin Ready",
    )
    cohort = Cohort.objects.create(project=project, amplitude_cohort_id="c1", name="Buyers")
    job = SyncJob.objects.create(cohort=cohort, connection=connection, audience_name="Buyers audience",
                                 audience_id="6001")
    return JobWorld(project, connection, cohort, job)


@pytest.fixture
def operator(project, make_member):
    return make_member(project, "operator")


@pytest.fixture
def viewer(project, make_member):
    return make_member(project, "viewer")

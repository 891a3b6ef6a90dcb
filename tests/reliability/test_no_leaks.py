"""After full syncs, nothing secret or personal is left where people or logs can read it.

The scan covers every table's raw values (read through the database cursor, sessions
decoded), the log output of the whole story (at DEBUG, through the project's masking
filter, as the console handler writes it), batch records and audit entries. It looks
for the Facebook tokens used (also revoked ones), the Amplitude secret key, and the raw
emails and phone numbers of the cohort's people, built from the sandbox population.
Also: every Graph call of a whole sync carries a correct appsecret_proof.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import re

import pytest
from django.contrib.sessions.models import Session
from django.db import connection as db

from config.logging import MaskSecretsFilter
from integrations.connections import connection_token_attach
from integrations.models import AuditEvent, FacebookConnection
from integrations.sandbox import services as fb_sandbox
from integrations.sandbox.amplitude import services as amp_sandbox
from integrations.sandbox.amplitude.membership import member_indexes
from integrations.sandbox.population import person
from integrations.sandbox.views import base as sandbox_views
from syncs import runner
from syncs.models import SyncBatch, SyncRun
from syncs.runner import sync_run_execute
from tests.reliability.conftest import expected_digest, held_digest, raw_members

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EMAIL_LIKE = re.compile(r"[^\s\"'<>,;:()\[\]{}|\\]+@[^\s\"'<>,;:()\[\]{}|\\]+")
PHONE_LIKE = re.compile(r"\+?\d[\d\s().\-]{5,}\d")
DIGEST = re.compile(r"[0-9a-fA-F]{64}")
# Tables of the sandboxes stand for Facebook's and Amplitude's side: the Amplitude
# sandbox keeps the project's key pair (it is Amplitude there), never our tables.
AMPLITUDE_SIDE_TABLES = {"amplitude_sandbox_sandboxamplitudeproject"}


class PersonalData:
    """The raw emails and phone numbers of a set of people, in every form they were seen."""

    def __init__(self, raw_rows: list[list[str]], indexes: list[int]) -> None:
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        for email, phone in raw_rows:
            clean = email.strip().lower()
            if "@" in clean and not DIGEST.fullmatch(clean):
                self.emails.add(clean)
            digits = re.sub(r"\D", "", phone)
            if len(digits) >= 7:
                self.phones.add(digits)
        for index in indexes:
            someone = person(index)
            self.emails.add(someone.email.lower())
            self.phones.add(someone.phone)

    def found_in(self, text: str) -> set[str]:
        hits = {m.group().strip(".").lower() for m in EMAIL_LIKE.finditer(text)} & self.emails
        hits |= {re.sub(r"\D", "", m.group()) for m in PHONE_LIKE.finditer(text)} & self.phones
        return hits


def database_texts() -> list[tuple[str, str]]:
    """(table, text) for every value of every table, as stored."""
    texts = []
    with db.cursor() as cursor:
        for table in db.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {db.ops.quote_name(table)}")  # names from introspection
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("utf-8", "ignore")
                    if value is not None:
                        texts.append((table, str(value)))
    for session in Session.objects.all():
        texts.append(("django_session (decoded)", str(session.get_decoded())))
    return texts


@pytest.fixture
def log_output():
    """What the console handler would write at LOG_LEVEL=DEBUG (masking filter included)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(MaskSecretsFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def test_no_token_secret_email_or_phone_in_the_database_logs_batches_or_audit(world, settings, monkeypatch,
                                                                                log_output, django_user_model):
    settings.SYNC_BATCH_MAX_ROWS = 500
    tokens = [world.token]
    job, amp_cohort = world.amplitude_job(size=3_000)
    fb_sandbox.sandbox_fault_switch_set(ad_account_id=world.ready.act_id, server_error_share=0.15,
                                        throttle_share=0.05, seed=5)
    assert sync_run_execute(job_id=job.pk, trigger="manual").status == SyncRun.Status.SUCCEEDED

    # Drift, then the token dies mid-run: failed batches, a connection problem, audit events.
    amp_sandbox.sandbox_cohort_change(cohort=amp_cohort, percent=10)
    original = runner.batch_record_outcome

    def revoke_after_one(context, operation, outcome):
        original(context, operation, outcome)
        fb_sandbox.sandbox_tokens_revoke(person=world.ready.person)

    monkeypatch.setattr(runner, "batch_record_outcome", revoke_after_one)
    assert sync_run_execute(job_id=job.pk, trigger="manual").status == SyncRun.Status.STOPPED
    monkeypatch.setattr(runner, "batch_record_outcome", original)

    admin = django_user_model.objects.create_user("ops", is_staff=True)
    tokens.append(fb_sandbox.sandbox_token_issue(person=world.ready.person))
    connection = connection_token_attach(project=world.project, connection=world.connection, token=tokens[-1],
                                         source=FacebookConnection.TokenSource.OAUTH, actor=admin)
    assert connection.status == FacebookConnection.Status.ACTIVE, connection.problem_message
    assert sync_run_execute(job_id=job.pk, trigger="schedule").status == SyncRun.Status.SUCCEEDED
    assert held_digest(job) == expected_digest(amp_cohort)

    amp_cohort.refresh_from_db()
    indexes = [index for index, _ in member_indexes(amp_sandbox.cohort_shape(amp_cohort))]
    people = PersonalData(raw_members(amp_cohort), indexes)
    secrets = [*tokens, world.project.amplitude_secret_key]
    assert len(people.emails) > 2_500 and len(people.phones) > 2_500
    sample_email, sample_phone = next(iter(people.emails)), next(iter(people.phones))
    assert people.found_in(f"x {sample_email.upper()} y +{sample_phone} z")  # the scan does see them

    leaks = []
    for table, text in database_texts():
        for secret in secrets:
            if secret in text and not (secret == secrets[-1] and table in AMPLITUDE_SIDE_TABLES):
                leaks.append(f"{table}: a secret ({secret[:6]}...)")
        hits = people.found_in(text)
        if hits:
            leaks.append(f"{table}: personal data {sorted(hits)[:3]}")
    logs = log_output.getvalue()
    leaks += [f"logs: a secret ({secret[:6]}...)" for secret in secrets if secret in logs]
    if people.found_in(logs):
        leaks.append(f"logs: personal data {sorted(people.found_in(logs))[:3]}")
    assert not leaks, "\n".join(sorted(set(leaks))[:30])

    # Batch records and audit entries, field by field (the scan above covers them too).
    assert SyncBatch.objects.filter(run__job=job, status="failed").exists()
    for record in [*SyncBatch.objects.filter(run__job=job).values(), *AuditEvent.objects.values()]:
        text = str(record)
        assert not people.found_in(text) and not any(secret in text for secret in secrets), record


def test_every_graph_call_of_a_whole_sync_carries_a_correct_appsecret_proof(world, settings, monkeypatch):
    settings.SANDBOX_REQUIRE_APPSECRET_PROOF = True  # a call without a proof would fail the sync
    settings.SYNC_BATCH_MAX_ROWS = 500
    assert settings.FACEBOOK_APP_SECRET
    seen: list[tuple[str, str | None]] = []
    original = sandbox_views.appsecret_proof_check

    def recorded(token, proof):
        seen.append((token, proof))
        return original(token, proof)

    monkeypatch.setattr(sandbox_views, "appsecret_proof_check", recorded)
    job, amp_cohort = world.amplitude_job(size=2_000)  # creating the audience is a Graph call too
    report = sync_run_execute(job_id=job.pk, trigger="manual")
    amp_sandbox.sandbox_cohort_change(cohort=amp_cohort, percent=5)
    second = sync_run_execute(job_id=job.pk, trigger="manual")

    assert report.status == second.status == SyncRun.Status.SUCCEEDED
    assert held_digest(job) == expected_digest(amp_cohort)
    # The runs' own calls, plus the audience creation and the connection checks before each run.
    assert len(seen) >= report.graph_calls + second.graph_calls + 1
    assert len(seen) > 10
    secret = settings.FACEBOOK_APP_SECRET.encode()
    wrong = [token[:8] for token, proof in seen
             if proof != hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()]
    assert not wrong, f"{len(wrong)} of {len(seen)} Graph calls without a correct appsecret_proof"

"""A token revoked in the middle of a run: the run stops within one batch per upload lane,
makes a bounded number of calls (counted at the sandbox), and the connection shows the fix.
After a reconnect the next run completes the audience."""

from __future__ import annotations

import pytest

from integrations.connection_checks import connection_check
from integrations.models import FacebookConnection
from integrations.sandbox import services as fb_sandbox
from integrations.sandbox.views import base as sandbox_views
from syncs import runner
from syncs.models import AudienceMember, SyncBatch, SyncJob, SyncRun
from syncs.runner import sync_run_execute
from tests.reliability.conftest import expected_digest, held_digest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def graph_calls(monkeypatch) -> list[str]:
    """Every Graph request the sandbox authenticates, as "METHOD path"."""
    calls: list[str] = []
    original = sandbox_views.GraphRequest.authenticate

    def counted(self):
        calls.append(f"{self.method} {self.request.path}")
        return original(self)

    monkeypatch.setattr(sandbox_views.GraphRequest, "authenticate", counted)
    return calls


@pytest.mark.parametrize(("lanes", "how"), [(1, "revoked"), (3, "expired")])
def test_a_token_revoked_mid_run_stops_it_within_one_batch_and_the_connection_shows_the_fix(
    world, settings, monkeypatch, graph_calls, lanes, how
):
    settings.SYNC_UPLOAD_CONCURRENCY = lanes
    settings.SYNC_BATCH_MAX_ROWS = 400
    job, amp_cohort = world.amplitude_job(size=4_000)
    person = world.ready.person
    original = runner.batch_record_outcome
    seen = {"confirmed": 0, "calls_before": None}

    def revoke_after_the_second_batch(context, operation, outcome):
        original(context, operation, outcome)
        seen["confirmed"] += outcome.result is not None
        if seen["confirmed"] == 2 and seen["calls_before"] is None:
            seen["calls_before"] = len(graph_calls)
            if how == "revoked":
                fb_sandbox.sandbox_tokens_revoke(person=person, subcode=458)
            elif how == "password_changed":
                fb_sandbox.sandbox_tokens_revoke(person=person, subcode=460)
            else:
                fb_sandbox.sandbox_tokens_expire(person=person)

    monkeypatch.setattr(runner, "batch_record_outcome", revoke_after_the_second_batch)
    report = sync_run_execute(job_id=job.pk, trigger="manual")
    monkeypatch.setattr(runner, "batch_record_outcome", original)

    calls_after = graph_calls[seen["calls_before"]:]
    run = SyncRun.objects.get(pk=report.run_id)
    batches = list(run.batches.order_by("sequence"))
    failed = [batch for batch in batches if batch.status == SyncBatch.Status.FAILED]
    # Stopped: each lane sent at most the one batch it had started, each tried once (no retry storm).
    assert report.status == SyncRun.Status.STOPPED and run.error_code == "token_invalid", report
    assert 1 <= len(failed) <= lanes and all(batch.attempts == 1 for batch in failed)
    assert len(calls_after) <= lanes and all("/users" in call for call in calls_after), calls_after
    assert len(batches) <= seen["confirmed"] + lanes
    assert not run.batches.filter(status=SyncBatch.Status.SENDING).exists()
    # Only what Facebook confirmed is in the ledger.
    confirmed_rows = sum(batch.rows_sent for batch in batches if batch.status == SyncBatch.Status.CONFIRMED)
    assert AudienceMember.objects.filter(job=job, present=True).count() == confirmed_rows == run.rows_added

    connection = FacebookConnection.objects.get(pk=world.connection.pk)
    assert connection.status == FacebookConnection.Status.NEEDS_ATTENTION
    assert connection.problem_code == ("token_expired" if how == "expired" else "token_invalid")
    assert "Reconnect" in connection.problem_fix
    job.refresh_from_db()
    assert job.status == SyncJob.Status.NEEDS_ATTENTION and "Reconnect" in job.status_fix

    # The schedule waits without calling Facebook; a person's "Run now" asks once and stops.
    before = len(graph_calls)
    assert sync_run_execute(job_id=job.pk, trigger="schedule").status == SyncRun.Status.SKIPPED
    assert len(graph_calls) == before
    manual = sync_run_execute(job_id=job.pk, trigger="manual")
    assert manual.status == SyncRun.Status.STOPPED and len(graph_calls) - before <= 2

    # Reconnected (a new token): the check releases the job and the next run completes the audience.
    connection.access_token = fb_sandbox.sandbox_token_issue(person=person)
    connection.save()
    assert connection_check(connection=connection).passed
    resumed = sync_run_execute(job_id=job.pk, trigger="schedule")
    assert resumed.status == SyncRun.Status.SUCCEEDED, resumed
    assert held_digest(job) == expected_digest(amp_cohort)
    assert not SyncRun.objects.filter(job=job, status=SyncRun.Status.RUNNING).exists()

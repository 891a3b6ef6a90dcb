"""The whole sync against the sandboxes over real HTTP: Amplitude -> encode -> diff -> Facebook.

The expected audience is computed independently of the engine, from the Amplitude
sandbox's membership and the shared population, and compared with what the Facebook
sandbox holds (its digest over stored rows).
"""

from __future__ import annotations

import math
import socket
import threading

import pytest
from django.db import connection as db_connection

from cohorts.models import Cohort
from cohorts.services import cohorts_sync_from_amplitude
from integrations.facebook.match_keys import encode_rows
from integrations.models import FacebookConnection, KeyMapping, Project
from integrations.sandbox import services as fb_sandbox
from integrations.sandbox.amplitude import services as amp_sandbox
from integrations.sandbox.amplitude.exports import member_properties
from integrations.sandbox.models import SandboxAudience
from integrations.sandbox.selectors import audience_rows_digest, audience_stored_digest
from syncs.models import AudienceMember, SyncBatch, SyncJob, SyncRun
from syncs.runner import sync_run_execute
from syncs.services import SyncJobSpec, sync_job_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SCHEMA = ["EMAIL", "PHONE"]


def expected_digest(amp_cohort) -> tuple[int, str]:
    """What the audience must hold: the cohort's members as the engine should upload them."""
    amp_cohort.refresh_from_db()
    shape = amp_sandbox.cohort_shape(amp_cohort)
    raw_rows = [[props["email"], props["phone"]] for _, props in member_properties(shape)]
    encoded = encode_rows(SCHEMA, raw_rows, default_country="US").rows
    unique = {tuple(row) for row in encoded}
    return len(unique), audience_rows_digest(encoded, schema=SCHEMA)


def held_digest(job: SyncJob) -> tuple[int, str]:
    return audience_stored_digest(audience=SandboxAudience.objects.get(fb_id=job.audience_id))


def upload_calls(run_id: int) -> int:
    return sum(SyncBatch.objects.filter(run_id=run_id).values_list("attempts", flat=True))


@pytest.fixture
def world(live_server, settings, monkeypatch):
    settings.GRAPH_RETRY_BASE_DELAY = 0.01
    settings.GRAPH_UNKNOWN_THROTTLE_WAIT = 0.01
    settings.SYNC_UPLOAD_CONCURRENCY = 2
    # Runs are started by the tests themselves, not by the queue.
    monkeypatch.setattr("syncs.services.async_task", lambda *args, **kwargs: None)
    people = fb_sandbox.sandbox_seed(reset=True)
    amp_project = amp_sandbox.sandbox_amplitude_seed()
    project = Project.objects.create(
        name="Shop", slug="shop", default_country="US",
        amplitude_api_key=amp_project.api_key, amplitude_secret_key=amp_project.secret_key,
    )
    KeyMapping.objects.create(project=project, facebook_key="EMAIL", source="user_property", property_name="email")
    KeyMapping.objects.create(project=project, facebook_key="PHONE", source="user_property", property_name="phone")
    amp_cohort = amp_sandbox.sandbox_cohort_create(size=25_000, name="Buyers", seed=11, project=amp_project)
    cohorts_sync_from_amplitude(project=project)
    cohort = Cohort.objects.get(project=project, amplitude_cohort_id=amp_cohort.cohort_id)
    ready = people["ready"]
    token = fb_sandbox.sandbox_token_issue(person=ready.person)
    connection = FacebookConnection.objects.create(
        project=project, access_token=token, ad_account_id=ready.act_id, status="active",
        facebook_user_name=ready.person.name,
    )
    job = sync_job_create(spec=SyncJobSpec(cohort=cohort, connection=connection, cadence="daily"))
    return {"job": job, "amp_cohort": amp_cohort, "ready": ready, "connection": connection}


def assert_every_batch_recorded_once_with_its_outcome(job: SyncJob) -> None:
    batches = SyncBatch.objects.filter(run__job=job)
    assert not batches.filter(status="sending").exists()
    for run in SyncRun.objects.filter(job=job, status__in=["succeeded", "partial"]):
        confirmed = run.batches.filter(status="confirmed")
        assert sum(confirmed.values_list("rows_sent", flat=True)) == run.rows_added + run.rows_removed
        assert list(run.batches.values_list("sequence", flat=True)) == list(range(1, run.batches.count() + 1))


def test_first_sync_then_two_percent_changed_the_audience_equals_the_cohort_with_minimal_calls(world):
    job, amp_cohort = world["job"], world["amp_cohort"]

    report = sync_run_execute(job_id=job.pk, trigger="manual")
    assert report.status == "succeeded", report
    expected = expected_digest(amp_cohort)
    assert held_digest(job) == expected
    assert upload_calls(report.run_id) == math.ceil(expected[0] / 10_000) == 3

    change = amp_sandbox.sandbox_cohort_change(cohort=amp_cohort, percent=2)
    assert change.left and change.email_changed
    report = sync_run_execute(job_id=job.pk, trigger="manual")
    assert report.status == "succeeded", report
    assert held_digest(job) == expected_digest(amp_cohort)
    # Everyone who left, and everyone whose email changed, was removed with the old keys and added with the new.
    assert report.rows_removed >= change.left and report.rows_added >= change.joined
    assert upload_calls(report.run_id) == math.ceil(report.rows_removed / 10_000) + math.ceil(
        report.rows_added / 10_000
    )
    assert AudienceMember.objects.filter(job=job, present=True).count() == expected_digest(amp_cohort)[0]

    report = sync_run_execute(job_id=job.pk, trigger="manual")  # nothing changed at Amplitude
    assert report.status == "succeeded" and upload_calls(report.run_id) == 0
    assert_every_batch_recorded_once_with_its_outcome(job)


def test_with_server_errors_and_throttling_injected_the_audience_still_equals_the_cohort(world):
    job, amp_cohort, ready = world["job"], world["amp_cohort"], world["ready"]
    fb_sandbox.sandbox_fault_switch_set(
        ad_account_id=ready.act_id, server_error_share=0.10, throttle_share=0.05, throttle_code=80003, seed=7
    )
    report = sync_run_execute(job_id=job.pk, trigger="manual")
    assert report.status == "succeeded", report
    assert held_digest(job) == expected_digest(amp_cohort)
    amp_sandbox.sandbox_cohort_change(cohort=amp_cohort, percent=2)
    report = sync_run_execute(job_id=job.pk, trigger="manual")
    assert report.status == "succeeded", report
    assert held_digest(job) == expected_digest(amp_cohort)
    assert_every_batch_recorded_once_with_its_outcome(job)


class SimulatedCrash(BaseException):
    """Escapes every `except Exception`, like a worker killed mid-run."""


def test_a_run_stopped_after_batch_k_is_finished_by_the_next_attempt_without_loss_or_duplicates(
    world, monkeypatch, settings
):
    from syncs import runner

    settings.SYNC_UPLOAD_CONCURRENCY = 1
    job, amp_cohort = world["job"], world["amp_cohort"]
    original = runner.batch_record_outcome
    seen = {"outcomes": 0}

    def crash_after_first_batch(context, operation, outcome):
        original(context, operation, outcome)
        seen["outcomes"] += 1
        if seen["outcomes"] == 1:
            raise SimulatedCrash

    monkeypatch.setattr(runner, "batch_record_outcome", crash_after_first_batch)
    with pytest.raises(SimulatedCrash):
        sync_run_execute(job_id=job.pk, trigger="manual")
    crashed = SyncRun.objects.get(job=job)
    assert crashed.status == "running" and crashed.rows_added == 10_000
    monkeypatch.setattr(runner, "batch_record_outcome", original)

    # The dead worker's run is taken over at once (its process is gone: here, a fake pid).
    SyncRun.objects.filter(pk=crashed.pk).update(worker=f"{socket.gethostname()}:999999999")
    report = sync_run_execute(job_id=job.pk, trigger="retry")
    assert report.status == "succeeded", report
    assert report.rows_added == expected_digest(amp_cohort)[0] - 10_000  # only what was not confirmed
    assert held_digest(job) == expected_digest(amp_cohort)
    crashed.refresh_from_db()
    assert crashed.status == "interrupted" and crashed.error_fix
    assert_every_batch_recorded_once_with_its_outcome(job)


def test_terms_revoked_mid_run_stops_it_holds_the_job_and_after_acceptance_the_next_run_completes(
    world, monkeypatch, settings
):
    from integrations.connection_checks import connection_check
    from syncs import runner

    settings.SYNC_UPLOAD_CONCURRENCY = 1
    job, amp_cohort, ready = world["job"], world["amp_cohort"], world["ready"]
    original = runner.batch_record_sending

    def revoke_before_second_batch(context, operation, batch):
        if context.sequence == 1:  # the first batch went out; the person withdraws the Terms now
            fb_sandbox.sandbox_terms_set(ad_account_id=ready.act_id, accepted=False)
        return original(context, operation, batch)

    monkeypatch.setattr(runner, "batch_record_sending", revoke_before_second_batch)
    report = sync_run_execute(job_id=job.pk, trigger="manual")
    monkeypatch.setattr(runner, "batch_record_sending", original)

    assert report.status == "stopped"
    run = SyncRun.objects.get(pk=report.run_id)
    assert list(run.batches.values_list("status", flat=True)) == ["confirmed", "failed"]  # stopped within a batch
    job.refresh_from_db()
    assert job.status == "needs_attention" and "tos/?act=" in job.status_fix
    assert sync_run_execute(job_id=job.pk, trigger="schedule").status == "skipped"  # the schedule is held

    fb_sandbox.sandbox_terms_set(ad_account_id=ready.act_id, accepted=True)
    result = connection_check(connection=FacebookConnection.objects.get(pk=world["connection"].pk))
    assert result.passed
    job.refresh_from_db()
    assert job.status != "needs_attention"
    report = sync_run_execute(job_id=job.pk, trigger="schedule")
    assert report.status == "succeeded", report
    assert held_digest(job) == expected_digest(amp_cohort)
    assert_every_batch_recorded_once_with_its_outcome(job)


def test_two_workers_starting_the_same_job_at_once_make_one_run(world, monkeypatch):
    from syncs import runner

    job = world["job"]
    barrier = threading.Barrier(2)
    reports = []

    def slow_stages(context):
        import time

        time.sleep(1.0)  # still running when the other worker tries

    monkeypatch.setattr(runner, "_run_stages", slow_stages)
    monkeypatch.setattr(runner, "_audience_size", lambda context: (None, None, None))

    def worker():
        try:
            barrier.wait()
            reports.append(sync_run_execute(job_id=job.pk, trigger="schedule"))
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(report.status for report in reports) == ["skipped", "succeeded"]
    assert SyncRun.objects.filter(job=job).count() == 1

"""A run that is alive keeps its job: a slow stage must not let a second run take over.

The engine takes over a run whose heartbeat is older than SYNC_LEASE_SECONDS (its worker
presumed dead). Amplitude may take minutes to prepare a cohort file (the client waits up
to AMPLITUDE_EXPORT_TIMEOUT_SECONDS, 900 s by default, against a 300 s lease), so the
heartbeat must keep beating while a live run waits.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from django.db import connection as db_connection

from syncs.models import SyncRun
from syncs.runner import sync_run_execute

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_live_run_in_a_slow_cohort_refresh_is_not_taken_over(world, settings, monkeypatch):
    settings.SYNC_LEASE_SECONDS = 1
    job, _ = world.amplitude_job(size=300)
    import cohorts.services

    original = cohorts.services.cohort_members_refresh

    def slow_refresh(**kwargs):
        time.sleep(2.0)  # Amplitude still preparing the file
        return original(**kwargs)

    monkeypatch.setattr(cohorts.services, "cohort_members_refresh", slow_refresh)
    first: list = []

    def worker():
        try:
            first.append(sync_run_execute(job_id=job.pk, trigger="manual"))
        finally:
            db_connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    time.sleep(1.5)  # the first run is alive, waiting for Amplitude, past its lease
    second = sync_run_execute(job_id=job.pk, trigger="schedule")
    thread.join()

    assert second.status == SyncRun.Status.SKIPPED, "a second run started beside a live one"
    assert SyncRun.objects.filter(job=job).count() == 1


class SimulatedCrash(BaseException):
    """Escapes every `except Exception`, like a worker killed mid-run."""


def test_after_a_worker_died_in_the_cohort_refresh_the_next_run_completes(world, monkeypatch):
    from cohorts.amplitude.client import AmplitudeClient
    from cohorts.models import CohortImport

    job, _ = world.amplitude_job(size=300)

    def killed(self, *args, **kwargs):
        raise SimulatedCrash

    with monkeypatch.context() as patched:
        patched.setattr(AmplitudeClient, "cohort_export_wait", killed)
        with pytest.raises(SimulatedCrash):
            sync_run_execute(job_id=job.pk, trigger="manual")
    assert CohortImport.objects.filter(status=CohortImport.Status.RUNNING).count() == 1
    # The worker is gone (here: a pid that does not exist), as after a SIGKILL.
    SyncRun.objects.filter(job=job).update(worker=f"{socket.gethostname()}:999999999")
    CohortImport.objects.filter(status=CohortImport.Status.RUNNING).update(worker=f"{socket.gethostname()}:999999999")

    report = sync_run_execute(job_id=job.pk, trigger="retry")

    assert report.status == SyncRun.Status.SUCCEEDED, report.message

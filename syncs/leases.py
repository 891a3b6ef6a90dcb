"""At most one run per job, across workers and machines, and taking over the runs of dead workers.

A run is a row with status "running", unique per job in the database (a partial unique
index): creating it is the lock. The run's worker keeps its heartbeat fresh from a
thread; a run whose heartbeat is older than SYNC_LEASE_SECONDS, or whose worker process
on this machine is gone, is marked interrupted (with its in-flight batches) and the job
can run again.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.processes import worker_is_gone, worker_label
from syncs.models import SyncBatch, SyncJob, SyncRun

logger = logging.getLogger(__name__)

# Statuses in which a schedule firing does nothing (a person or a check must act first).
HELD_STATUSES = {SyncJob.Status.PAUSED, SyncJob.Status.NEEDS_ATTENTION, SyncJob.Status.AWAITING_APPROVAL}


def runs_reap_stale(*, job_id: int | None = None) -> int:
    """Mark runs whose worker died as interrupted (and their in-flight batches); returns how many."""
    cutoff = timezone.now() - timedelta(seconds=settings.SYNC_LEASE_SECONDS)
    running = SyncRun.objects.filter(status=SyncRun.Status.RUNNING)
    if job_id is not None:
        running = running.filter(job_id=job_id)
    stale = [
        run.pk
        for run in running.only("pk", "heartbeat_at", "worker")
        if run.heartbeat_at < cutoff or worker_is_gone(run.worker)
    ]
    if not stale:
        return 0
    now = timezone.now()
    with transaction.atomic():
        SyncBatch.objects.filter(run_id__in=stale, status=SyncBatch.Status.SENDING).update(
            status=SyncBatch.Status.INTERRUPTED,
            finished_at=now,
            error_message="The worker stopped before Facebook's answer was recorded; the rows were planned again.",
        )
        count = SyncRun.objects.filter(pk__in=stale, status=SyncRun.Status.RUNNING).update(
            status=SyncRun.Status.INTERRUPTED,
            finished_at=now,
            error_code="worker_lost",
            error_message="The worker running this sync stopped (crash, deploy or restart).",
            error_fix="Nothing to do: the next run resumes where this one stopped.",
        )
    return count


def run_begin(*, job_id: int, trigger: str, user=None) -> SyncRun | None:
    """Create the job's running run, or None when one is already running or the job is held."""
    runs_reap_stale(job_id=job_id)
    try:
        with transaction.atomic():
            # Serialises concurrent starts on PostgreSQL; the unique "one running run per
            # job" index is the guarantee on every database.
            job = SyncJob.objects.select_for_update().get(pk=job_id)
            if trigger == SyncRun.Trigger.SCHEDULE and (not job.enabled or job.status in HELD_STATUSES):
                return None
            if SyncRun.objects.filter(job=job, status=SyncRun.Status.RUNNING).exists():
                return None
            run = SyncRun.objects.create(
                job=job,
                trigger=trigger,
                triggered_by=user if user is not None and user.is_authenticated else None,
                status=SyncRun.Status.RUNNING,
                worker=worker_label(),
            )
            SyncJob.objects.filter(pk=job.pk).update(status=SyncJob.Status.RUNNING, last_run_at=run.started_at)
    except IntegrityError:
        return None  # another worker created the running run first
    return run


# --- the run ---------------------------------------------------------------------------------


class Heartbeat:
    """Keeps a live run's lease fresh from a thread, whatever the run is waiting for.

    A cohort export or a throttle wait can outlast SYNC_LEASE_SECONDS; without this, the
    run would look dead and a second run of the job could start beside it. When the
    beat finds the run no longer "running" (another worker took it over), `lost` is set
    and the run stops sending.
    """

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-run-{run_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _beat(self) -> None:
        from django.db import connection

        interval = max(0.2, settings.SYNC_LEASE_SECONDS / 4)
        try:
            while not self._stop.wait(interval):
                updated = SyncRun.objects.filter(pk=self.run_id, status=SyncRun.Status.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
                if not updated:
                    self.lost = True
                    return
        except Exception:  # a missed beat only shortens the lease; never kill the run for it
            logger.warning("Heartbeat of run %s failed", self.run_id, exc_info=True)
        finally:
            connection.close()

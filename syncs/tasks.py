"""django-q2 task entry points: thin doors into the sync services.

Every task is idempotent: a run is only started when none is running for the job (a
database guarantee), so a task delivered twice starts at most one run.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model

from syncs.leases import runs_reap_stale
from syncs.models import SyncJob, SyncRun
from syncs.runner import sync_run_execute


def sync_job_run_task(job_id: int, trigger: str = SyncRun.Trigger.MANUAL, user_id: int | None = None) -> dict:
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    return sync_run_execute(job_id=job_id, trigger=trigger, user=user).as_dict()


def sync_job_scheduled_run(job_id: int) -> dict:
    report = sync_run_execute(job_id=job_id, trigger=SyncRun.Trigger.SCHEDULE)
    _next_run_mirror(job_id)
    return report.as_dict()


def runs_resume_interrupted() -> int:
    """Mark runs of dead workers interrupted and resume their jobs; returns jobs resumed."""
    from django_q.tasks import async_task

    runs_reap_stale()
    resumed = 0
    interrupted_jobs = (
        SyncRun.objects.filter(status=SyncRun.Status.INTERRUPTED, job__enabled=True)
        .values_list("job_id", flat=True)
        .distinct()
    )
    for job_id in interrupted_jobs:
        latest = SyncRun.objects.filter(job_id=job_id).order_by("-started_at", "-id").first()
        # Only when the interrupted run is the job's latest: a later run already took over.
        if latest is not None and latest.status == SyncRun.Status.INTERRUPTED:
            async_task("syncs.tasks.sync_job_run_task", job_id, SyncRun.Trigger.RETRY, None, group="syncs")
            resumed += 1
    return resumed


def _next_run_mirror(job_id: int) -> None:
    from django_q.models import Schedule

    next_run = Schedule.objects.filter(name=f"sync-job-{job_id}").values_list("next_run", flat=True).first()
    SyncJob.objects.filter(pk=job_id).update(next_run_at=next_run)

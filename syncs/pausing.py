"""Holding a connection's sync jobs while the connection needs attention, and releasing them.

A job held for its connection is in `NEEDS_ATTENTION` with a `status_reason` that
starts with `CONNECTION_HOLD_PREFIX`. The prefix is how a release tells these holds
from a job the engine itself put in `NEEDS_ATTENTION` (audience deleted, flagged...),
which a passing connection check must not resume. A dedicated field would be
cleaner; the prefix keeps this within the existing columns.

The sync engine runs no job in `NEEDS_ATTENTION` or `PAUSED` and calls
`integrations.connections.connection_check` before every run, so a hold takes
effect without touching the job's schedule.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q, QuerySet

from integrations.models import FacebookConnection
from syncs.models import SyncJob

CONNECTION_HOLD_PREFIX = "Facebook connection: "


def connection_hold_reason(reason: str) -> str:
    """The job's status_reason for a hold caused by its connection."""
    return reason if reason.startswith(CONNECTION_HOLD_PREFIX) else f"{CONNECTION_HOLD_PREFIX}{reason}"


def is_held_for_connection(job: SyncJob) -> bool:
    return job.status == SyncJob.Status.NEEDS_ATTENTION and job.status_reason.startswith(CONNECTION_HOLD_PREFIX)


def _holdable_jobs(connection: FacebookConnection) -> QuerySet[SyncJob]:
    # A job a person paused stays paused (their reason is the one to show), and a job
    # waiting for a removal approval keeps waiting: neither would run anyway.
    return SyncJob.objects.filter(connection=connection, enabled=True).exclude(
        status__in=[SyncJob.Status.PAUSED, SyncJob.Status.AWAITING_APPROVAL]
    )


@transaction.atomic
def sync_jobs_hold_for_connection(*, connection: FacebookConnection, reason: str, fix: str) -> int:
    """Put every enabled job of the connection on hold with this reason; returns how many.

    Jobs already held for the connection get the new reason (the problem may have
    changed); jobs in NEEDS_ATTENTION for their own reason keep it, since theirs is the
    more specific one and a release would not resume them anyway.
    """
    jobs = _holdable_jobs(connection).exclude(
        Q(status=SyncJob.Status.NEEDS_ATTENTION) & ~Q(status_reason__startswith=CONNECTION_HOLD_PREFIX)
    )
    return jobs.update(
        status=SyncJob.Status.NEEDS_ATTENTION,
        status_reason=connection_hold_reason(reason),
        status_fix=fix,
    )


@transaction.atomic
def sync_jobs_release_for_connection(*, connection: FacebookConnection) -> int:
    """Return the jobs held for this connection to a runnable status; returns how many."""
    held = list(
        SyncJob.objects.select_for_update()
        .filter(
            connection=connection,
            status=SyncJob.Status.NEEDS_ATTENTION,
            status_reason__startswith=CONNECTION_HOLD_PREFIX,
        )
        .only("id", "status", "status_reason", "status_fix", "last_run_at", "last_success_at")
    )
    for job in held:
        job.status = _runnable_status(job)
        job.status_reason = ""
        job.status_fix = ""
    SyncJob.objects.bulk_update(held, ["status", "status_reason", "status_fix"])
    return len(held)


def _runnable_status(job: SyncJob) -> str:
    """The status the job's own history implies (its status before the hold is not kept)."""
    if job.last_run_at is None:
        return SyncJob.Status.NEW
    if job.last_success_at is not None and job.last_success_at >= job.last_run_at:
        return SyncJob.Status.SUCCEEDED
    return SyncJob.Status.FAILED

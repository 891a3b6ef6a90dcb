"""Sync jobs: create, schedule, run now, pause, resume, approve, recreate, delete.

The admin's buttons, the tasks and the commands all call these; none of them talks to
Facebook or the task queue by itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from cohorts.models import Cohort
from integrations.audit import AuditActions, audit_record
from integrations.facebook.client import GraphClient
from integrations.facebook.errors import AudienceGone, GraphError
from integrations.models import FacebookConnection
from syncs.models import AudienceMember, SyncJob, SyncRun
from syncs.pausing import connection_hold_reason
from syncs.runner import AUDIENCE_DESCRIPTION_MARK

logger = logging.getLogger(__name__)

RUN_TASK = "syncs.tasks.sync_job_run_task"
SCHEDULED_RUN_TASK = "syncs.tasks.sync_job_scheduled_run"
SCHEDULE_TYPES = {
    SyncJob.Cadence.HOURLY: Schedule.HOURLY,
    SyncJob.Cadence.DAILY: Schedule.DAILY,
    SyncJob.Cadence.CRON: Schedule.CRON,
}


class SyncSetupError(Exception):
    """A sync could not be set up; `fix` says what a person should do."""

    def __init__(self, message: str, *, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


def schedule_name(job: SyncJob) -> str:
    return f"sync-job-{job.pk}"


def cron_expression_validate(expression: str) -> str:
    from croniter import croniter

    expression = " ".join(expression.split())
    if not croniter.is_valid(expression):
        raise SyncSetupError(
            f"{expression!r} is not a cron expression.",
            fix="Use five fields: minute hour day-of-month month day-of-week, e.g. '0 6 * * *' for 06:00 daily.",
        )
    return expression


def _graph_client(connection: FacebookConnection) -> GraphClient:
    return GraphClient.from_settings(connection.access_token, ad_account_id=connection.ad_account_id)


# --- schedules and the queue --------------------------------------------------------------------


def sync_job_schedule_ensure(*, job: SyncJob) -> Schedule | None:
    """The job's recurring schedule (none for one-time jobs), created or updated by name."""
    if job.cadence == SyncJob.Cadence.ONCE:
        Schedule.objects.filter(name=schedule_name(job)).delete()
        return None
    schedule, _ = Schedule.objects.update_or_create(
        name=schedule_name(job),
        defaults={
            "func": SCHEDULED_RUN_TASK,
            "kwargs": repr({"job_id": job.pk}),
            "schedule_type": SCHEDULE_TYPES[job.cadence],
            "cron": job.cron_expression or None,
            "repeats": -1,
        },
    )
    if schedule.next_run and job.next_run_at != schedule.next_run:
        SyncJob.objects.filter(pk=job.pk).update(next_run_at=schedule.next_run)
    return schedule


def sync_job_enqueue(*, job: SyncJob, trigger: str, user=None) -> None:
    """Queue a run once the current transaction commits (a worker picks it up)."""
    user_id = user.pk if user is not None and user.is_authenticated else None
    transaction.on_commit(
        lambda: async_task(RUN_TASK, job.pk, trigger, user_id, task_name=f"sync-job-{job.pk}-{trigger}", group="syncs")
    )


# --- lifecycle -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncJobSpec:
    cohort: Cohort
    connection: FacebookConnection
    cadence: str = SyncJob.Cadence.DAILY
    cron_expression: str = ""
    mode: str = SyncJob.Mode.CHANGES
    existing_audience_id: str = ""
    audience_name: str = ""


def sync_job_create(*, spec: SyncJobSpec, user=None, request: HttpRequest | None = None) -> SyncJob:
    """Create the audience at Facebook (or adopt an existing one), the job and its schedule."""
    cohort, connection = spec.cohort, spec.connection
    if cohort.project_id != connection.project_id:
        raise SyncSetupError("The cohort and the Facebook connection belong to different projects.")
    if connection.status == FacebookConnection.Status.DISCONNECTED or not connection.ad_account_id:
        raise SyncSetupError(
            "This Facebook connection is not usable.", fix="Reconnect Facebook and choose an ad account first."
        )
    cron = cron_expression_validate(spec.cron_expression) if spec.cadence == SyncJob.Cadence.CRON else ""
    name = (spec.audience_name or cohort.name).strip()[:300]
    job = SyncJob.objects.create(
        cohort=cohort,
        connection=connection,
        audience_name=name,
        cadence=spec.cadence,
        cron_expression=cron,
        mode=spec.mode,
        enabled=False,  # until its audience exists
        created_by=user if user is not None and user.is_authenticated else None,
    )
    # No transaction is open across the Graph call: a database lock held while waiting
    # for Facebook would block every other writer (and the sandbox, when it is local).
    try:
        audience_id = _audience_for_new_job(job, spec.existing_audience_id.strip())
    except Exception:
        job.delete()
        raise
    with transaction.atomic():
        SyncJob.objects.filter(pk=job.pk).update(audience_id=audience_id, enabled=True)
        job.refresh_from_db()
        sync_job_schedule_ensure(job=job)
        audit_record(
            action=AuditActions.SYNC_CREATED,
            actor=user,
            request=request,
            project=cohort.project,
            target=job,
            changes={
                "cohort": cohort.name,
                "ad_account": connection.ad_account_id,
                "audience_id": audience_id,
                "cadence": spec.cadence + (f" ({cron})" if cron else ""),
                "mode": spec.mode,
            },
        )
        sync_job_enqueue(job=job, trigger=SyncRun.Trigger.MANUAL, user=user)
    return job


def _audience_for_new_job(job: SyncJob, existing_audience_id: str) -> str:
    connection = job.connection
    try:
        with _graph_client(connection) as client:
            if existing_audience_id:
                audience = client.custom_audience(existing_audience_id)
                if audience.account_id and audience.account_id != connection.ad_account_digits:
                    raise SyncSetupError(
                        f"Audience {existing_audience_id} belongs to another ad account.",
                        fix="Choose an audience of the connection's ad account.",
                    )
                return audience.id
            return client.custom_audience_create(
                name=job.audience_name[:200],
                description=f"{AUDIENCE_DESCRIPTION_MARK} #{job.pk}: cohort {job.cohort.name}"[:500],
                customer_file_source="USER_PROVIDED_ONLY",
            )
    except GraphError as error:
        raise SyncSetupError(f"Facebook refused: {error.message}", fix=error.fix) from error


def sync_job_run_now(*, job: SyncJob, user=None, request: HttpRequest | None = None) -> None:
    audit_record(action=AuditActions.SYNC_RUN_MANUALLY, actor=user, request=request, project=job.cohort.project,
                 target=job)
    sync_job_enqueue(job=job, trigger=SyncRun.Trigger.MANUAL, user=user)


def sync_job_pause(*, job: SyncJob, user=None, request: HttpRequest | None = None) -> None:
    with transaction.atomic():
        SyncJob.objects.filter(pk=job.pk).update(
            enabled=False, status=SyncJob.Status.PAUSED, status_reason="Paused by a person.", status_fix=""
        )
        audit_record(action=AuditActions.SYNC_PAUSED, actor=user, request=request, project=job.cohort.project,
                     target=job)


def sync_job_resume(*, job: SyncJob, user=None, request: HttpRequest | None = None) -> None:
    with transaction.atomic():
        connection = job.connection
        held = connection.status != FacebookConnection.Status.ACTIVE
        # Held with the connection's reason, so that the connection's next passing check releases it.
        SyncJob.objects.filter(pk=job.pk).update(
            enabled=True,
            status=SyncJob.Status.NEEDS_ATTENTION if held else SyncJob.Status.NEW,
            status_reason=connection_hold_reason(connection.problem_message or "needs attention") if held else "",
            status_fix=connection.problem_fix if held else "",
        )
        sync_job_schedule_ensure(job=job)
        audit_record(action=AuditActions.SYNC_RESUMED, actor=user, request=request, project=job.cohort.project,
                     target=job)
        if not held:
            sync_job_enqueue(job=job, trigger=SyncRun.Trigger.MANUAL, user=user)


def sync_job_approve_removals(*, job: SyncJob, user=None, request: HttpRequest | None = None) -> None:
    """A project admin lets the next run remove more than the configured share."""
    with transaction.atomic():
        SyncJob.objects.filter(pk=job.pk).update(
            removals_approved_at=timezone.now(),
            removals_approved_by=user if user is not None and user.is_authenticated else None,
            status=SyncJob.Status.NEW,
            status_reason="",
            status_fix="",
        )
        audit_record(
            action=AuditActions.SYNC_REMOVALS_APPROVED, actor=user, request=request, project=job.cohort.project,
            target=job,
        )
        sync_job_enqueue(job=job, trigger=SyncRun.Trigger.MANUAL, user=user)


def sync_job_recreate_audience(*, job: SyncJob, user=None, request: HttpRequest | None = None) -> str:
    """A new audience at Facebook for a job whose audience was deleted; every member is sent again."""
    job = SyncJob.objects.select_related("cohort__project", "connection").get(pk=job.pk)
    old_audience = job.audience_id
    new_audience = _audience_for_new_job(job, "")  # outside any transaction (a Graph call)
    with transaction.atomic():
        # The old audience is gone with everything in it: the ledger starts again.
        AudienceMember.objects.filter(job=job, present=True).update(present=False, removed_at=timezone.now())
        SyncJob.objects.filter(pk=job.pk).update(
            audience_id=new_audience,
            status=SyncJob.Status.NEW,
            status_reason="",
            status_fix="",
            ledger_mapping_fingerprint="",
        )
        audit_record(
            action=AuditActions.SYNC_AUDIENCE_RECREATED,
            actor=user,
            request=request,
            project=job.cohort.project,
            target=job,
            changes={"audience_id": [old_audience, new_audience]},
        )
        sync_job_enqueue(job=job, trigger=SyncRun.Trigger.MANUAL, user=user)
    return new_audience


def sync_job_delete(
    *, job: SyncJob, delete_audience: bool, user=None, request: HttpRequest | None = None
) -> str | None:
    """Delete the job (its runs, batches and ledger go with it); optionally the audience too.

    Returns a warning when the audience could not be deleted at Facebook (the job is
    deleted anyway: the audience then stays in Ads Manager, where it can be removed by hand).
    """
    warning = None
    if delete_audience and job.audience_id:
        try:
            with _graph_client(job.connection) as client:
                client.custom_audience_delete(job.audience_id)
        except AudienceGone:
            pass
        except GraphError as error:
            warning = f"The audience {job.audience_id} could not be deleted at Facebook: {error.message}"
    with transaction.atomic():
        Schedule.objects.filter(name=schedule_name(job)).delete()
        project, label, audience_id = job.cohort.project, str(job), job.audience_id
        job.delete()
        audit_record(
            action=AuditActions.SYNC_DELETED,
            actor=user,
            request=request,
            project=project,
            changes={
                "job": label,
                "audience_id": audience_id,
                "audience_deleted_at_facebook": bool(delete_audience and warning is None),
            },
        )
    return warning

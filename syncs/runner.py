"""One run of a sync job: check -> refresh the cohort -> compare -> send -> record.

`sync_run_execute` is the single entry point: the schedule, "Run now" in the admin and
`manage.py run_sync` all come here. What it guarantees:

- At most one run per job at a time, across workers and machines: a run is a row with
  status "running", unique per job in the database; a run whose worker died (no
  heartbeat for SYNC_LEASE_SECONDS, or its process is gone) is marked interrupted and
  taken over.
- Nothing lost or duplicated after a crash: the ledger (what the audience holds through
  this job) moves forward only for batches Facebook confirmed, in the same transaction
  as the batch record. The next run computes the difference again, so unconfirmed rows
  are simply sent again (adding or removing a row twice is harmless at Facebook).
- A permanent problem stops the run after the batch that met it, and says why and what
  to do, on the run, the job and (for token, Terms and permission problems) the connection.
"""

from __future__ import annotations

import logging
import math
from functools import partial

from django.conf import settings
from django.utils import timezone

from integrations.facebook.client import GraphClient
from integrations.facebook.errors import (
    AudienceFlagged,
    AudienceGone,
    GraphError,
    NoBusinessManager,
    PermissionMissing,
    RateLimited,
    TermsNotAccepted,
    TokenInvalid,
)
from integrations.facebook.retry import RetryPolicy
from syncs import planner
from syncs.batch_records import batch_record_outcome, batch_record_sending
from syncs.leases import Heartbeat, run_begin
from syncs.models import SyncJob, SyncRun
from syncs.run_state import KEEP_JOB_STATUS, RunContext, RunReport, RunStop
from syncs.sqlite_wal import checkpoints_in_background
from syncs.throttle import SharedThrottleGate
from syncs.uploader import Uploader, UploadStopped, batches_of

logger = logging.getLogger(__name__)

CONNECTION_ERRORS = (TermsNotAccepted, NoBusinessManager, PermissionMissing, TokenInvalid)
AUDIENCE_DESCRIPTION_MARK = "Synced from cohort-sync job"
SMALL_AUDIENCE = 100


def _retry_policy() -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.GRAPH_RETRY_MAX_ATTEMPTS,
        base_delay=settings.GRAPH_RETRY_BASE_DELAY,
        max_total_seconds=settings.GRAPH_RETRY_MAX_SECONDS,
        max_throttle_wait=settings.GRAPH_MAX_THROTTLE_WAIT,
        unknown_throttle_wait=settings.GRAPH_UNKNOWN_THROTTLE_WAIT,
    )


def _make_clients(job: SyncJob, gate: SharedThrottleGate, lanes: int) -> list[GraphClient]:
    connection = job.connection
    return [
        GraphClient.from_settings(
            connection.access_token,
            ad_account_id=connection.ad_account_id,
            throttle_gate=gate,
            retry_policy=_retry_policy(),
        )
        for _ in range(max(1, lanes))
    ]


def sync_run_execute(*, job_id: int, trigger: str = SyncRun.Trigger.SCHEDULE, user=None) -> RunReport:
    run = run_begin(job_id=job_id, trigger=trigger, user=user)
    if run is None:
        job = SyncJob.objects.filter(pk=job_id).only("status", "enabled").first()
        why = "already running" if job and job.status == SyncJob.Status.RUNNING else "held or paused"
        return RunReport(run_id=None, status=SyncRun.Status.SKIPPED, message=f"No run started: the job is {why}.")
    job = SyncJob.objects.select_related("cohort__project", "connection").get(pk=job_id)
    lanes = max(1, settings.SYNC_UPLOAD_CONCURRENCY)
    context = RunContext(run=run, job=job, heartbeat_thread=Heartbeat(run.pk))
    if job.connection.ad_account_id:
        context.gate.load(job.connection.ad_account_id)
    context.heartbeat_thread.start()
    try:
        context.clients = _make_clients(job, context.gate, lanes)
        with checkpoints_in_background():
            _run_stages(context)
    except RunStop as stop:
        return _run_finish(context, stop)
    except Exception as exc:  # a bug or an outage: recorded on the run, never a stuck run
        logger.exception("Sync run %s failed unexpectedly", run.pk)
        return _run_finish(
            context,
            RunStop(
                SyncRun.Status.FAILED,
                f"Unexpected error: {type(exc).__name__}: {str(exc)[:300]}",
                code="internal_error",
                fix="Try again; if it keeps failing, report it with this run's id.",
                job_status=SyncJob.Status.FAILED,
            ),
        )
    finally:
        context.heartbeat_thread.stop()
        for client in context.clients:
            client.close()
    return _run_finish(context, None)


def _run_stages(context: RunContext) -> None:
    job = context.job
    with context.stage("check"):
        _connection_check(context)
    with context.stage("download"):
        cohort_import = _cohort_refresh(context)
    context.heartbeat(cohort_refreshed=cohort_import is not None)
    with context.stage("audience"):
        _audience_ensure(context)

    from integrations.key_mappings import project_schema

    schema = project_schema(job.cohort.project)
    if not schema:
        raise RunStop(
            SyncRun.Status.STOPPED,
            "The project has no key mapping, so there is nothing to send.",
            code="no_key_mapping",
            fix="Map at least one identifying key (email, phone, mobile advertiser id or external id).",
            job_status=SyncJob.Status.NEEDS_ATTENTION,
        )
    fingerprint = job.cohort.members_mapping_fingerprint
    with context.stage("compare"):
        plan = planner.plan_compute(job=job)
    cohort = job.cohort
    context.heartbeat(
        rows_to_add=plan.to_add,
        rows_to_remove=plan.to_remove,
        rows_unchanged=plan.unchanged,
        rows_skipped=cohort.members_skipped,
        skipped_reasons=cohort.members_skipped_reasons,
    )
    mapping_changed = bool(job.ledger_mapping_fingerprint) and job.ledger_mapping_fingerprint != fingerprint
    context.ledger_schema_current = not mapping_changed
    context.ledger_new = plan.ledger_new
    _removal_guard(context, plan)
    use_replace = plan.ledger_rows > 0 and plan.cohort_rows > 0 and (
        job.mode == SyncJob.Mode.REPLACE
        or mapping_changed
        or plan.removal_share > settings.SYNC_REPLACE_CHANGE_SHARE
    )
    notices = []
    if plan.cohort_rows < SMALL_AUDIENCE:
        notices.append(
            f"The cohort has {plan.cohort_rows} sendable members: Facebook is unlikely to use an audience "
            f"of fewer than {SMALL_AUDIENCE} people."
        )
    if mapping_changed:
        notices.append("The key mapping changed since the last sync: every member was sent again with the new keys.")
    context.heartbeat(mode_used="replace" if use_replace else "changes", notices=notices)

    with context.stage("upload"):
        if use_replace:
            _send(context, "replace", schema, planner.rows_of_cohort, plan.cohort_rows, lanes=1)
        else:
            if plan.to_remove:
                _send(context, "remove", schema, partial(planner.rows_to_remove, plan=plan), plan.to_remove)
            if plan.to_add:
                _send(context, "add", schema, partial(planner.rows_to_add, plan=plan), plan.to_add)
    SyncJob.objects.filter(pk=job.pk).update(ledger_mapping_fingerprint=fingerprint)


def _connection_check(context: RunContext) -> None:
    connection = context.job.connection
    from integrations.connection_checks import CheckTrigger, connection_check

    connection_check(connection=connection, trigger=CheckTrigger.BEFORE_SYNC)
    connection.refresh_from_db()
    if connection.status != connection.Status.ACTIVE:
        # The failed check already held every job of the connection with its reason.
        raise RunStop(
            SyncRun.Status.STOPPED,
            connection.problem_message or "The Facebook connection needs attention.",
            code=connection.problem_code or "connection_needs_attention",
            fix=connection.problem_fix or "Open the connection and follow its fix.",
            job_status=KEEP_JOB_STATUS,
        )


def _cohort_refresh(context: RunContext):
    from cohorts.services import cohort_members_refresh

    cohort = context.job.cohort
    try:
        result = cohort_members_refresh(cohort=cohort)
    except Exception as exc:
        fix = getattr(exc, "fix", "") or "Check the project's Amplitude settings, then run again."
        permanent = getattr(exc, "permanent", False)
        raise RunStop(
            SyncRun.Status.FAILED,
            f"Could not refresh the cohort's members: {exc}",
            code=f"cohort_{type(exc).__name__}",
            fix=fix,
            job_status=SyncJob.Status.NEEDS_ATTENTION if permanent else SyncJob.Status.FAILED,
        ) from exc
    cohort.refresh_from_db()
    context.job.cohort = cohort
    return result


def _audience_ensure(context: RunContext) -> None:
    job = context.job
    if job.audience_id:
        return
    marker = f"{AUDIENCE_DESCRIPTION_MARK} #{job.pk}"
    try:
        # A crash between creating the audience and saving its id must not make a second one.
        existing = next(
            (a for a in context.client.custom_audiences(fields=("id", "name", "description"))
             if marker in a.description),
            None,
        )
        audience_id = existing.id if existing else context.client.custom_audience_create(
            name=job.audience_name[:200],
            description=f"{marker}: cohort {job.cohort.name}"[:500],
            customer_file_source="USER_PROVIDED_ONLY",
        )
    except GraphError as error:
        _raise_for_graph_error(context, error)
    SyncJob.objects.filter(pk=job.pk).update(audience_id=audience_id)
    job.audience_id = audience_id


def _removal_guard(context: RunContext, plan: planner.Plan) -> None:
    job = context.job
    share = plan.removal_share
    if plan.ledger_rows == 0 or share <= settings.SYNC_REMOVAL_APPROVAL_SHARE:
        return
    if job.removals_approved_at is not None:
        SyncRun.objects.filter(pk=context.run.pk).update(approved_by=job.removals_approved_by)
        return
    raise RunStop(
        SyncRun.Status.AWAITING_APPROVAL,
        f"This run would remove {plan.to_remove:,} of the audience's {plan.ledger_rows:,} people ({share:.0%}), "
        f"more than the {settings.SYNC_REMOVAL_APPROVAL_SHARE:.0%} allowed without approval.",
        code="removal_needs_approval",
        fix="A project admin can approve the removal on the job's page (or fix the cohort if it is wrong).",
        job_status=SyncJob.Status.AWAITING_APPROVAL,
    )


def _rows_per_batch(context: RunContext, operation: str, schema: list[str]) -> int:
    from integrations.facebook.results import UploadSession

    overhead = context.client.upload_body_overhead(
        schema=schema, session=UploadSession(session_id=2**62, batch_seq=10**6, last_batch_flag=False,
                                             estimated_num_total=10**9)
    )
    budget = settings.SYNC_BATCH_MAX_BYTES - overhead - 2
    # Rows of hashed keys have a known longest form: when even that fits the most rows a
    # request may carry, measuring the longest stored row (a scan of every row) is moot.
    bound = planner.row_bytes_bound(schema) if operation != "remove" or context.ledger_schema_current else None
    if bound is not None and budget // (bound + 1) >= settings.SYNC_BATCH_MAX_ROWS:
        return settings.SYNC_BATCH_MAX_ROWS
    longest = planner.longest_row_bytes(job=context.job, operation=operation) or 1
    return max(1, min(settings.SYNC_BATCH_MAX_ROWS, budget // (longest + 1)))


def _send(context: RunContext, operation: str, schema: list[str], source, total: int, lanes: int | None = None):
    rows_per_batch = _rows_per_batch(context, operation, schema)
    lanes = min(lanes or len(context.clients), max(1, math.ceil(total / rows_per_batch)))
    planned = SyncRun.objects.filter(pk=context.run.pk).values_list("batches_planned", flat=True).first() or 0
    context.heartbeat(batches_planned=planned + math.ceil(total / rows_per_batch))
    uploader = Uploader(
        operation=operation,
        audience_id=context.job.audience_id,
        schema=schema,
        clients=context.clients[:lanes],
        estimated_total=total,
        on_sending=lambda batch: batch_record_sending(context, operation, batch),
        on_outcome=lambda outcome: batch_record_outcome(context, operation, outcome),
        should_stop=lambda: _job_stopped(context),
    )
    pages = source(job=context.job, page_rows=rows_per_batch)
    try:
        uploader.run(batches_of(pages, rows_per_batch=rows_per_batch))
    except UploadStopped as stopped:
        _raise_for_graph_error(context, stopped.error)
    if context.taken_over:
        raise RunStop(SyncRun.Status.INTERRUPTED, "Another worker took this run over.", code="taken_over",
                      fix="Nothing to do: the other worker's run carries on.")
    if _job_stopped(context):
        raise RunStop(SyncRun.Status.FAILED, "The job was paused or deleted during the run.", code="stopped_by_user",
                      fix="Resume the job to sync again.", job_status=SyncJob.Status.PAUSED)


def _job_stopped(context: RunContext) -> bool:
    return context.taken_over or not SyncJob.objects.filter(pk=context.job.pk, enabled=True).exists()


def _raise_for_graph_error(context: RunContext, error: GraphError) -> None:
    if isinstance(error, CONNECTION_ERRORS):
        from integrations.connection_checks import connection_problem_record

        # The connection shows the problem and its fix, and every job on it is held.
        connection_problem_record(connection=context.job.connection, error=error)
        raise RunStop(SyncRun.Status.STOPPED, error.message, code=error.kind, fix=error.fix,
                      job_status=KEEP_JOB_STATUS) from error
    if isinstance(error, AudienceGone):
        raise RunStop(
            SyncRun.Status.STOPPED,
            error.message,
            code=error.kind,
            fix="The audience was deleted at Facebook or is no longer shared with the ad account: use "
            "'Recreate audience' on the job to create it again and send every member.",
            job_status=SyncJob.Status.NEEDS_ATTENTION,
        ) from error
    if isinstance(error, AudienceFlagged):
        raise RunStop(SyncRun.Status.STOPPED, error.message, code=error.kind, fix=error.fix,
                      job_status=SyncJob.Status.NEEDS_ATTENTION) from error
    if isinstance(error, RateLimited):
        raise RunStop(
            SyncRun.Status.FAILED,
            f"Facebook throttled this ad account for about {error.retry_after / 60:.0f} minutes.",
            code=error.kind,
            fix="Nothing to do: every job on this ad account waits, and the next run resumes.",
            job_status=SyncJob.Status.FAILED,
        ) from error
    raise RunStop(SyncRun.Status.FAILED, str(error), code=error.kind, fix=error.fix,
                  job_status=SyncJob.Status.FAILED) from error


def _run_finish(context: RunContext, stop: RunStop | None) -> RunReport:
    run, job, now = context.run, context.job, timezone.now()
    lower = upper = None
    if stop is None and job.audience_id:
        with context.stage("finish"):
            lower, upper, flag = _audience_size(context)
        if flag is not None:
            stop = flag
    run.refresh_from_db()
    if stop is None:
        status = SyncRun.Status.PARTIAL if run.rows_invalid else SyncRun.Status.SUCCEEDED
        job_status, reason, fix = SyncJob.Status.SUCCEEDED, "", ""
        run_fields = {}
    else:
        status, job_status, reason, fix = stop.status, stop.job_status or SyncJob.Status.FAILED, stop.message, stop.fix
        run_fields = {"error_code": stop.code[:64], "error_message": stop.message, "error_fix": stop.fix}
    # Only a run still "running" is finished here: one that another worker marked
    # interrupted (and took over) keeps that truth, and its job belongs to the new run.
    finished = SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(
        status=status,
        stage="",
        finished_at=now,
        heartbeat_at=now,
        graph_calls=context.graph_calls(),
        stage_seconds=context.stage_seconds,
        audience_lower_bound=lower,
        audience_upper_bound=upper,
        **run_fields,
    )
    if not finished:
        logger.warning("Run %s was taken over by another worker; its outcome is not recorded over it.", run.pk)
        return RunReport(
            run_id=run.pk,
            status=SyncRun.Status.INTERRUPTED,
            audience_id=job.audience_id,
            message="Another worker took this run over (it looked dead); that worker's run carries on.",
        )
    job_updates: dict = {} if job_status == KEEP_JOB_STATUS else {
        "status": job_status, "status_reason": reason, "status_fix": fix
    }
    if status in {SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL}:
        job_updates.update(
            last_success_at=now,
            audience_lower_bound=lower,
            audience_upper_bound=upper,
            audience_checked_at=now,
            removals_approved_at=None,
            removals_approved_by=None,
        )
        if job.cadence == SyncJob.Cadence.ONCE:
            job_updates["enabled"] = False
    SyncJob.objects.filter(pk=job.pk).update(**job_updates)
    run.refresh_from_db()
    return RunReport(
        run_id=run.pk,
        status=status,
        audience_id=job.audience_id,
        rows_added=run.rows_added,
        rows_removed=run.rows_removed,
        rows_unchanged=run.rows_unchanged,
        rows_skipped=run.rows_skipped,
        batches=run.batches.count(),
        graph_calls=run.graph_calls,
        message=reason,
        fix=fix,
    )


def _audience_size(context: RunContext) -> tuple[int | None, int | None, RunStop | None]:
    try:
        audience = context.client.custom_audience(context.job.audience_id)
    except GraphError as error:
        logger.warning("Could not read the size of audience %s: %s", context.job.audience_id, error)
        return None, None, None
    flag = None
    if audience.is_flagged:
        flag = RunStop(
            SyncRun.Status.STOPPED,
            "Facebook flagged this audience (integrity restrictions): it cannot be updated until resolved.",
            code="audience_flagged",
            fix="Resolve it in Audience Manager, or create a new audience with a neutral name.",
            job_status=SyncJob.Status.NEEDS_ATTENTION,
        )
    return audience.approximate_count_lower_bound, audience.approximate_count_upper_bound, flag

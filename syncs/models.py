"""Sync jobs (cohort -> custom audience), their runs and batches, and the audience ledger."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from cohorts.models import Cohort
from integrations.models import FacebookConnection, TimeStamped


class SyncJob(TimeStamped):
    class Cadence(models.TextChoices):
        ONCE = "once", "One time"
        HOURLY = "hourly", "Hourly"
        DAILY = "daily", "Daily"
        CRON = "cron", "Cron expression"

    class Mode(models.TextChoices):
        CHANGES = "changes", "Send changes (full replace when many members changed)"
        REPLACE = "replace", "Always replace the whole audience"

    class Status(models.TextChoices):
        NEW = "new", "Not run yet"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Healthy"
        FAILED = "failed", "Last run failed"
        PAUSED = "paused", "Paused"
        NEEDS_ATTENTION = "needs_attention", "Needs attention"
        AWAITING_APPROVAL = "awaiting_approval", "Waiting for approval"

    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, related_name="sync_jobs")
    connection = models.ForeignKey(FacebookConnection, on_delete=models.PROTECT, related_name="sync_jobs")
    audience_id = models.CharField(max_length=64, blank=True)
    audience_name = models.CharField(max_length=300)
    cadence = models.CharField(max_length=8, choices=Cadence.choices, default=Cadence.DAILY)
    cron_expression = models.CharField(max_length=100, blank=True)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.CHANGES)
    enabled = models.BooleanField(default=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    status_reason = models.TextField(blank=True)
    status_fix = models.TextField(blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The key-mapping fingerprint the audience's rows were encoded with (see KeyMapping).
    ledger_mapping_fingerprint = models.CharField(max_length=16, blank=True)
    audience_lower_bound = models.BigIntegerField(null=True, blank=True)
    audience_upper_bound = models.BigIntegerField(null=True, blank=True)
    audience_checked_at = models.DateTimeField(null=True, blank=True)
    # A project admin's approval of the next run's large removal; used up by that run.
    removals_approved_at = models.DateTimeField(null=True, blank=True)
    removals_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["cohort__name"]
        indexes = [
            models.Index(fields=["status"], name="syncjob_status_idx"),
            models.Index(fields=["connection", "enabled"], name="syncjob_connection_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "audience_id"],
                condition=~Q(audience_id=""),
                name="syncjob_unique_audience",
            ),
            models.CheckConstraint(
                condition=(Q(cadence="cron") & ~Q(cron_expression=""))
                | (~Q(cadence="cron") & Q(cron_expression="")),
                name="syncjob_cron_expression_iff_cron",
                violation_error_message="A cron expression is needed for (and only for) the cron cadence.",
            ),
            models.CheckConstraint(
                condition=Q(cadence__in=["once", "hourly", "daily", "cron"]), name="syncjob_cadence_valid"
            ),
            models.CheckConstraint(condition=Q(mode__in=["changes", "replace"]), name="syncjob_mode_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.cohort} -> {self.audience_name}"


class SyncRun(models.Model):
    """One execution of a job. At most one per job is running (a database constraint)."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Succeeded with rejected rows"
        FAILED = "failed", "Failed"
        STOPPED = "stopped", "Stopped (needs attention)"
        INTERRUPTED = "interrupted", "Interrupted (worker stopped)"
        AWAITING_APPROVAL = "awaiting_approval", "Waiting for approval"
        SKIPPED = "skipped", "Skipped"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Run now (admin)"
        COMMAND = "command", "Command line"
        RETRY = "retry", "Retry"

    job = models.ForeignKey(SyncJob, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULE)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    worker = models.CharField(max_length=120, blank=True, help_text="host:pid that ran it")
    mode_used = models.CharField(max_length=8, blank=True)
    cohort_refreshed = models.BooleanField(default=False)
    # Totals, in rows (one row = one member as uploaded).
    rows_to_add = models.PositiveIntegerField(default=0)
    rows_to_remove = models.PositiveIntegerField(default=0)
    rows_added = models.PositiveIntegerField(default=0)
    rows_removed = models.PositiveIntegerField(default=0)
    rows_unchanged = models.PositiveIntegerField(default=0)
    rows_skipped = models.PositiveIntegerField(default=0)
    skipped_reasons = models.JSONField(default=dict, blank=True)
    rows_invalid = models.PositiveIntegerField(default=0, help_text="Rows Facebook counted as invalid.")
    batches_planned = models.PositiveIntegerField(default=0)
    batches_done = models.PositiveIntegerField(default=0)
    graph_calls = models.PositiveIntegerField(default=0)
    audience_lower_bound = models.BigIntegerField(null=True, blank=True)
    audience_upper_bound = models.BigIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    error_fix = models.TextField(blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    stage = models.CharField(max_length=20, blank=True, help_text="What the run is doing now.")
    stage_seconds = models.JSONField(default=dict, blank=True, help_text="Time spent per stage.")
    notices = models.JSONField(default=list, blank=True, help_text="Warnings a person should read.")

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["job", "-started_at"], name="syncrun_job_started_idx"),
            models.Index(fields=["status"], name="syncrun_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["job"], condition=Q(status="running"), name="syncrun_one_running_per_job"
            ),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.job}"


class SyncBatch(models.Model):
    """One request to Facebook: what was sent and what Facebook answered (counts, never rows)."""

    class Operation(models.TextChoices):
        ADD = "add", "Add"
        REMOVE = "remove", "Remove"
        REPLACE = "replace", "Replace"

    class Status(models.TextChoices):
        SENDING = "sending", "Sending"
        CONFIRMED = "confirmed", "Confirmed by Facebook"
        FAILED = "failed", "Failed"
        INTERRUPTED = "interrupted", "Interrupted (outcome unknown; rows re-planned)"

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="batches")
    operation = models.CharField(max_length=8, choices=Operation.choices)
    sequence = models.PositiveIntegerField(help_text="Order within the run.")
    lane = models.PositiveSmallIntegerField(default=0, help_text="Concurrent upload lane (one session each).")
    session_id = models.BigIntegerField(null=True, blank=True)
    batch_seq = models.PositiveIntegerField(null=True, blank=True)
    last_batch = models.BooleanField(default=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SENDING)
    rows_sent = models.PositiveIntegerField(default=0)
    bytes_sent = models.PositiveIntegerField(default=0)
    num_received = models.PositiveIntegerField(null=True, blank=True)
    num_invalid_entries = models.PositiveIntegerField(null=True, blank=True)
    invalid_entry_samples = models.JSONField(default=dict, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    fbtrace_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    error_fix = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "sequence"]
        verbose_name_plural = "sync batches"
        indexes = [
            models.Index(fields=["run", "status"], name="syncbatch_run_status_idx"),
            # The batch log's "failures" filter across runs, in the list's order.
            models.Index(fields=["status", "run", "sequence"], name="syncbatch_status_run_seq_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["run", "sequence"], name="syncbatch_unique_sequence"),
        ]

    def __str__(self) -> str:
        return f"{self.get_operation_display()} #{self.sequence} of run {self.run_id}"


class AudienceMember(models.Model):
    """The ledger: a row this job placed in its audience, confirmed by Facebook.

    Facebook never lists an audience's members, so this is how removals stay exact
    (only what we added is removed) and how "is this person in the audience?" is answered.
    Rows stay after removal (removed_at set) so the answer can say when they left.
    """

    # Every index and constraint here is paid on each of a million rows a first sync writes.
    # The job's index (job, id) lists a job's rows newest first in the admin.
    job = models.ForeignKey(SyncJob, on_delete=models.CASCADE, related_name="ledger")
    row_hash = models.BigIntegerField()
    row = models.TextField()
    present = models.BooleanField(default=True)
    added_at = models.DateTimeField(default=timezone.now)
    # Which batch added or removed the row, for the audit trail: read one row at a time, never
    # searched by batch. A job's batches and its ledger rows are only deleted together (with
    # the job), so no database constraint, index or SET_NULL pass is needed to keep them
    # consistent. Measured on 10,000-row batches: their two indexes cost a quarter of a
    # first sync's ledger writes on SQLite, their constraint triggers 65 ms on PostgreSQL.
    added_batch = models.ForeignKey(
        SyncBatch, on_delete=models.DO_NOTHING, null=True, blank=True, related_name="+",
        db_constraint=False, db_index=False,
    )
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_batch = models.ForeignKey(
        SyncBatch, on_delete=models.DO_NOTHING, null=True, blank=True, related_name="+",
        db_constraint=False, db_index=False,
    )

    class Meta:
        verbose_name = "audience member (ledger)"
        verbose_name_plural = "audience members (ledger)"
        constraints = [
            models.UniqueConstraint(fields=["job", "row_hash"], name="audiencemember_unique_row"),
        ]
        indexes = [models.Index(fields=["job", "present"], name="audiencemember_present_idx")]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.row_hash}"


class AdAccountThrottle(models.Model):
    """Meta asked us to slow down on this ad account: every job on it waits until then."""

    ad_account_id = models.CharField(max_length=40, unique=True)
    blocked_until = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.ad_account_id} until {self.blocked_until:%H:%M:%S}"

"""Cohorts (from Amplitude or a CSV file) and their members, kept only as encoded rows."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from integrations.models import Project, TimeStamped


class Cohort(TimeStamped):
    class Source(models.TextChoices):
        AMPLITUDE = "amplitude", "Amplitude"
        CSV = "csv", "CSV upload"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="cohorts")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.AMPLITUDE)
    amplitude_cohort_id = models.CharField("Amplitude cohort id", max_length=64, blank=True)
    name = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    size = models.PositiveIntegerField(null=True, blank=True, help_text="Size as Amplitude reports it.")
    last_computed = models.DateTimeField(null=True, blank=True)
    # Amplitude's lastComputed as received (seconds or milliseconds): an opaque change marker.
    last_computed_marker = models.CharField(max_length=40, blank=True)
    archived = models.BooleanField(default=False)

    # What the stored members (CohortMember) were built from: when either marker differs
    # from the current one, the members must be downloaded and encoded again.
    members_count = models.PositiveIntegerField(default=0)
    members_skipped = models.PositiveIntegerField(default=0)
    members_skipped_reasons = models.JSONField(default=dict, blank=True)
    members_refreshed_at = models.DateTimeField(null=True, blank=True)
    members_source_marker = models.CharField(max_length=40, blank=True)
    members_mapping_fingerprint = models.CharField(max_length=16, blank=True)

    class Meta:
        ordering = ["project__name", "name"]
        indexes = [models.Index(fields=["project", "archived"], name="cohort_project_archived_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "amplitude_cohort_id"],
                condition=Q(source="amplitude"),
                name="cohort_unique_amplitude_id",
            ),
            models.CheckConstraint(
                condition=~Q(source="amplitude") | ~Q(amplitude_cohort_id=""),
                name="cohort_amplitude_has_id",
            ),
            models.CheckConstraint(condition=Q(source__in=["amplitude", "csv"]), name="cohort_source_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class CohortMember(models.Model):
    """One member as Facebook will receive it: the encoded (hashed) row, never raw values.

    `row` is the compact JSON array of uploaded values in the project's schema order;
    `row_hash` is the first 8 bytes of its SHA-256 as a signed integer, the identity
    the sync engine compares with what an audience already holds.
    """

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="members")
    row_hash = models.BigIntegerField()
    row = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cohort", "row_hash"], name="cohortmember_unique_row"),
        ]

    def __str__(self) -> str:
        return f"{self.cohort_id}:{self.row_hash}"


class AmplitudeUsage(models.Model):
    """Requests made to Amplitude's cohort download API, per project and month (500/month cap)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="amplitude_usage")
    month = models.DateField(help_text="First day of the month.")
    download_requests = models.PositiveIntegerField(default=0)
    other_requests = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-month"]
        constraints = [
            models.UniqueConstraint(fields=["project", "month"], name="amplitudeusage_unique_month"),
            models.CheckConstraint(condition=Q(month__day=1), name="amplitudeusage_month_first_day"),
        ]

    def __str__(self) -> str:
        return f"{self.project} {self.month:%Y-%m}: {self.download_requests} downloads"


class CohortImport(models.Model):
    """One refresh of a cohort's members (download or CSV upload) and what it found."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        SKIPPED = "skipped", "Skipped (unchanged)"
        FAILED = "failed", "Failed"

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="imports")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=16, choices=Cohort.Source.choices)
    file_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    worker = models.CharField(max_length=120, blank=True, help_text="host:pid of the worker doing it")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_read = models.PositiveIntegerField(default=0)
    rows_kept = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)
    rejected_reasons = models.JSONField(default=dict, blank=True, help_text="reason -> count")
    # A bounded sample of (line number, reason): never the rejected values themselves.
    rejected_sample = models.JSONField(default=list, blank=True)
    rows_duplicate = models.PositiveIntegerField(
        default=0, help_text="Kept rows identical to another one once encoded (stored once)."
    )
    error_message = models.TextField(blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_fix = models.TextField(blank=True)
    # What the members were built from, and what changed in the stored members.
    request_id = models.CharField("Amplitude request id", max_length=64, blank=True)
    source_marker = models.CharField(max_length=40, blank=True)
    mapping_fingerprint = models.CharField(max_length=16, blank=True)
    members_added = models.PositiveIntegerField(default=0)
    members_removed = models.PositiveIntegerField(default=0)
    members_after = models.PositiveIntegerField(null=True, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    # Per mapped key: fill rate, valid and already-hashed shares on a sample; examples
    # as uploaded (hashes only). Never raw values.
    key_quality = models.JSONField(default=dict, blank=True)
    stage_seconds = models.JSONField(default=dict, blank=True, help_text="Time spent per stage.")

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["cohort", "-started_at"], name="cohortimport_cohort_idx")]

    def __str__(self) -> str:
        return f"{self.get_source_display()} of {self.cohort} at {self.started_at:%Y-%m-%d %H:%M}"


class AmplitudeListStatus(models.Model):
    """The outcome of the last cohort-list refresh of a project, shown beside its cohorts."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="amplitude_list_status")
    attempted_at = models.DateTimeField(null=True, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    cohorts_seen = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    error_fix = models.TextField(blank=True)

    class Meta:
        verbose_name = "Amplitude list status"
        verbose_name_plural = "Amplitude list statuses"

    def __str__(self) -> str:
        return f"{self.project}: {'failing' if self.error_message else 'ok'}"

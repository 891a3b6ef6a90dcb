"""State of the local Amplitude: its projects (keys and switches), cohorts and export jobs.

Members are not stored: a cohort's membership is a deterministic function of its size,
seed and how far it has drifted (see `membership.py`), over the shared population.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

DEFAULT_API_KEY = "sandbox-api-key"
DEFAULT_SECRET_KEY = "sandbox-secret-key"  # noqa: S105 (the sandbox's made-up project)


class SandboxAmplitudeProject(models.Model):
    """An Amplitude project: the keys its API accepts and its failure switches."""

    name = models.CharField(max_length=200)
    app_id = models.PositiveIntegerField(unique=True)
    api_key = models.CharField(max_length=100, unique=True)
    secret_key = models.CharField(max_length=100)
    refuse_auth = models.BooleanField(
        default=False, help_text="Answer every request with 401, as for a revoked or wrong secret key."
    )
    throttle_next = models.PositiveIntegerField(
        default=0, help_text="Answer the next N requests with 429 (counts down)."
    )
    throttle_share = models.FloatField(default=0.0, help_text="Share of requests answered with 429 (0 to 1).")
    status_polls = models.PositiveSmallIntegerField(
        default=1, help_text="'JOB INPROGRESS' answers (202) before 'JOB COMPLETED' (at least 1)."
    )
    inline_max_bytes = models.PositiveIntegerField(
        default=256 * 1024, help_text="Larger files are answered with a 302 to a one-minute 'S3' link."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "Amplitude project"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} (app {self.app_id})"


class SandboxCohort(models.Model):
    """A behavioral cohort: `size` people of a pool, chosen and drifting deterministically."""

    project = models.ForeignKey(SandboxAmplitudeProject, on_delete=models.CASCADE, related_name="cohorts")
    cohort_id = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    size = models.PositiveIntegerField()
    seed = models.PositiveIntegerField(default=0)
    pool_size = models.PositiveIntegerField(help_text="People 0..pool_size-1 of the population can be members.")
    shift = models.BigIntegerField(
        default=0, help_text="Members moved out (and as many in) by hand: the changes of scripts and benchmarks."
    )
    drift_per_hour = models.PositiveIntegerField(
        default=0, help_text="Members leaving (and as many joining) every hour on their own."
    )
    drift_anchor = models.DateTimeField(default=timezone.now)
    # [[first position, count], ...]: members whose email changed, once per window they are in.
    email_changes = models.JSONField(default=list, blank=True)
    changed_at = models.DateTimeField(default=timezone.now, help_text="The last change by hand.")
    archived = models.BooleanField(default=False)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "Amplitude cohort"
        ordering = ["project", "size"]
        constraints = [
            models.CheckConstraint(condition=models.Q(pool_size__gt=models.F("size")), name="sbxcohort_pool_gt_size"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.cohort_id}, {self.size} members)"


class SandboxExport(models.Model):
    """One download request: the membership it snapshots and how often it was polled."""

    request_id = models.CharField(max_length=32, unique=True)
    cohort = models.ForeignKey(SandboxCohort, on_delete=models.CASCADE, related_name="exports")
    prop_keys = models.JSONField(default=list, blank=True)
    shift = models.BigIntegerField()
    email_changes = models.JSONField(default=list, blank=True)
    file_name = models.CharField(max_length=200)
    polls = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "Amplitude export"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.request_id} of {self.cohort.cohort_id}"

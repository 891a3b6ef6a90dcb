"""Daily ad metrics imported from Facebook, the imports that wrote them, and ad set targeting."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from integrations.models import FacebookConnection, Project


class AdInsightImport(models.Model):
    """One import of an ad account's daily insights for a range of days, and how it went."""

    class Kind(models.TextChoices):
        DAILY = "daily", "Daily (yesterday and the trailing window)"
        BACKFILL = "backfill", "Backfill"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    class Method(models.TextChoices):
        PAGED = "paged", "Paged read"
        REPORT_RUN = "report_run", "Async report run"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="ad_insight_imports")
    connection = models.ForeignKey(
        FacebookConnection, on_delete=models.SET_NULL, null=True, blank=True, related_name="ad_insight_imports"
    )
    # Copied, so the record still reads right after the connection is gone.
    ad_account_id = models.CharField(max_length=40)
    ad_account_name = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    method = models.CharField(max_length=12, choices=Method.choices, blank=True)
    since = models.DateField()
    until = models.DateField()
    report_run_id = models.CharField(max_length=40, blank=True)
    rows_read = models.PositiveIntegerField(default=0)
    inserted = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField("updated (revised)", default=0)
    unchanged = models.PositiveIntegerField(default=0)
    ad_sets_read = models.PositiveIntegerField(default=0)
    graph_calls = models.PositiveIntegerField(default=0)
    error_kind = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    error_fix = models.TextField("what to do", blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "ad spend import"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="adimport_project_created_idx"),
            models.Index(fields=["connection", "status"], name="adimport_connection_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(since__lte=models.F("until")), name="adimport_range_ordered"),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "succeeded", "failed", "skipped"]),
                name="adimport_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ad_account_id} {self.since} to {self.until} ({self.get_status_display()})"

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1


class AdDailyMetric(models.Model):
    """One ad's delivery on one day, as Facebook last reported it (revised days updated in place)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="ad_daily_metrics")
    connection = models.ForeignKey(
        FacebookConnection, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ad_account_id = models.CharField(max_length=40)
    date = models.DateField(help_text="The day in the ad account's time zone, as Facebook reports it.")
    campaign_id = models.CharField(max_length=32)
    campaign_name = models.CharField(max_length=400, blank=True)
    adset_id = models.CharField("ad set id", max_length=32)
    adset_name = models.CharField("ad set name", max_length=400, blank=True)
    ad_id = models.CharField(max_length=32)
    ad_name = models.CharField(max_length=400, blank=True)
    currency = models.CharField(max_length=3, help_text="The ad account's currency (ISO 4217).")
    # Meta sends spend as a string in the account's currency; kept exact (never a float).
    spend = models.DecimalField(max_digits=18, decimal_places=4)
    impressions = models.BigIntegerField()
    clicks = models.BigIntegerField()
    reach = models.BigIntegerField(default=0)
    actions = models.JSONField(default=list, blank=True)
    first_imported_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    last_import = models.ForeignKey(AdInsightImport, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = "ad spend report"
        verbose_name_plural = "ad spend report"
        ordering = ["-date", "ad_id"]
        constraints = [
            # The upsert key: a rerun finds the same row and changes it at most once.
            models.UniqueConstraint(
                fields=["project", "ad_account_id", "date", "campaign_id", "adset_id", "ad_id"],
                name="admetric_unique_day_ad",
            ),
            models.CheckConstraint(
                condition=Q(spend__gte=0) & Q(impressions__gte=0) & Q(clicks__gte=0) & Q(reach__gte=0),
                name="admetric_non_negative",
            ),
        ]
        indexes = [
            # The report filters a project's date range (all ad accounts, or one).
            models.Index(fields=["project", "date"], name="admetric_project_date_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.ad_name or self.ad_id}: {self.spend} {self.currency}"


class AdSetAudience(models.Model):
    """A custom audience an ad set targets (`targeting.custom_audiences`), as last read."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    ad_account_id = models.CharField(max_length=40)
    adset_id = models.CharField("ad set id", max_length=32)
    adset_name = models.CharField("ad set name", max_length=400, blank=True)
    audience_id = models.CharField(max_length=64)
    audience_name = models.CharField(max_length=400, blank=True)
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "ad set audience"
        constraints = [
            models.UniqueConstraint(
                fields=["project", "ad_account_id", "adset_id", "audience_id"], name="adsetaudience_unique"
            ),
        ]
        indexes = [models.Index(fields=["project", "adset_id"], name="adsetaudience_adset_idx")]

    def __str__(self) -> str:
        return f"ad set {self.adset_id} targets {self.audience_id}"

"""Projects, who may act on them, their Facebook connections and key mappings, and the audit trail."""

from __future__ import annotations

import hashlib
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from integrations.fields import EncryptedTextField

# Meta's multi-key schema (facebook-marketing-api.md, section 2), in Meta's order.
# Kept here as plain data so the database constraint and forms do not import the encoder.
FACEBOOK_KEYS = [
    ("EXTERN_ID", "External id (your own user id)"),
    ("EMAIL", "Email"),
    ("PHONE", "Phone number"),
    ("GEN", "Gender"),
    ("DOBY", "Birth year"),
    ("DOBM", "Birth month"),
    ("DOBD", "Birth day"),
    ("LN", "Last name"),
    ("FN", "First name"),
    ("FI", "First initial"),
    ("CT", "City"),
    ("ST", "State or province"),
    ("ZIP", "Postal code"),
    ("MADID", "Mobile advertiser id (IDFA/AAID)"),
    ("COUNTRY", "Country"),
    ("LOOKALIKE_VALUE", "Customer value (value-based audiences)"),
]
FACEBOOK_KEY_ORDER = [key for key, _ in FACEBOOK_KEYS]


class TimeStamped(models.Model):
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone (for example Europe/Paris).")


class Project(TimeStamped):
    class Region(models.TextChoices):
        US = "US", "United States (amplitude.com)"
        EU = "EU", "European Union (analytics.eu.amplitude.com)"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    amplitude_project_id = models.CharField("Amplitude project id", max_length=64, blank=True)
    amplitude_api_key = EncryptedTextField("Amplitude API key", blank=True)
    amplitude_secret_key = EncryptedTextField("Amplitude secret key", blank=True)
    amplitude_region = models.CharField(
        "Amplitude region", max_length=2, choices=Region.choices, default=Region.US
    )
    default_country = models.CharField(
        max_length=2,
        blank=True,
        help_text="ISO 3166 code (e.g. US, GB) used for phone numbers written without a country code.",
    )
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(default_country="") | Q(default_country__regex=r"^[A-Z]{2}$"),
                name="project_default_country_iso2",
                violation_error_message="The default country must be a two-letter ISO code in capitals, like US.",
            ),
            models.CheckConstraint(
                condition=Q(amplitude_region__in=["US", "EU"]), name="project_region_valid"
            ),
            models.CheckConstraint(condition=~Q(slug=""), name="project_slug_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_amplitude_credentials(self) -> bool:
        return bool(self.amplitude_api_key and self.amplitude_secret_key)


class ProjectMembership(TimeStamped):
    class Role(models.TextChoices):
        ADMIN = "admin", "Project admin"
        OPERATOR = "operator", "Operator"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_memberships"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        ordering = ["project__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="membership_unique_user_project"),
            models.CheckConstraint(
                condition=Q(role__in=["admin", "operator", "viewer"]), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.get_role_display()})"


class FacebookConnection(TimeStamped):
    """One ad account reached through one person's (or system user's) token."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        NEEDS_ATTENTION = "needs_attention", "Needs attention"
        DISCONNECTED = "disconnected", "Disconnected"

    class TokenSource(models.TextChoices):
        OAUTH = "oauth", "Continue with Facebook"
        SYSTEM_USER = "system_user", "Business Manager system-user token"

    class TermsStatus(models.TextChoices):
        UNKNOWN = "unknown", "Not checked yet"
        ACCEPTED = "accepted", "Accepted"
        NOT_ACCEPTED = "not_accepted", "Not accepted"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="facebook_connections")
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The person in this tool who connected (or last reconnected) the token.",
    )
    connected_at = models.DateTimeField(null=True, blank=True)
    token_source = models.CharField(max_length=16, choices=TokenSource.choices, default=TokenSource.OAUTH)
    facebook_user_id = models.CharField(max_length=64, blank=True)
    facebook_user_name = models.CharField(max_length=200, blank=True)
    access_token = EncryptedTextField(blank=True)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    granted_scopes = models.JSONField(default=list, blank=True)
    ad_account_id = models.CharField(
        max_length=40, blank=True, help_text="act_<digits>, chosen among the person's ad accounts."
    )
    ad_account_name = models.CharField(max_length=200, blank=True)
    ad_account_currency = models.CharField(max_length=3, blank=True)
    # Facebook's days (insights) are the ad account's days, in its own time zone.
    ad_account_timezone = models.CharField(max_length=64, blank=True)
    business_id = models.CharField("Business Manager id", max_length=64, blank=True)
    business_name = models.CharField("Business Manager", max_length=200, blank=True)
    terms_status = models.CharField(
        "Custom Audience Terms", max_length=16, choices=TermsStatus.choices, default=TermsStatus.UNKNOWN
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEEDS_ATTENTION)
    problem_code = models.CharField(max_length=64, blank=True)
    problem_message = models.TextField(blank=True)
    problem_fix = models.TextField(blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project__name", "ad_account_name"]
        indexes = [models.Index(fields=["status"], name="fbconn_status_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "ad_account_id"],
                condition=~Q(ad_account_id=""),
                name="fbconn_unique_project_ad_account",
            ),
            models.CheckConstraint(
                condition=Q(ad_account_id="") | Q(ad_account_id__regex=r"^act_[0-9]+$"),
                name="fbconn_ad_account_id_format",
                violation_error_message="An ad account id looks like act_1234567890.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "needs_attention", "disconnected"]),
                name="fbconn_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="active") | ~Q(ad_account_id=""),
                name="fbconn_active_has_ad_account",
            ),
        ]

    def __str__(self) -> str:
        label = self.ad_account_name or self.ad_account_id or "no ad account chosen"
        return f"{self.project}: {label}"

    @property
    def ad_account_digits(self) -> str:
        return self.ad_account_id.removeprefix("act_")


class KeyMapping(TimeStamped):
    """Which Amplitude identifier feeds one Facebook match key, for one project."""

    class Source(models.TextChoices):
        USER_ID = "user_id", "Amplitude user id"
        DEVICE_ID = "device_id", "Amplitude device id"
        USER_PROPERTY = "user_property", "User property"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="key_mappings")
    facebook_key = models.CharField(max_length=20, choices=FACEBOOK_KEYS)
    source = models.CharField(max_length=16, choices=Source.choices)
    property_name = models.CharField(
        max_length=200, blank=True, help_text="The user property's name, when the source is a user property."
    )

    class Meta:
        ordering = ["project__name", "facebook_key"]
        constraints = [
            models.UniqueConstraint(fields=["project", "facebook_key"], name="keymapping_unique_key"),
            models.CheckConstraint(
                condition=Q(facebook_key__in=FACEBOOK_KEY_ORDER), name="keymapping_known_facebook_key"
            ),
            models.CheckConstraint(
                condition=(Q(source="user_property") & ~Q(property_name=""))
                | (Q(source__in=["user_id", "device_id"]) & Q(property_name="")),
                name="keymapping_property_name_iff_property",
                violation_error_message="Name the user property (and only for a user-property source).",
            ),
        ]

    def __str__(self) -> str:
        source = self.property_name if self.source == self.Source.USER_PROPERTY else self.get_source_display()
        return f"{self.facebook_key} <- {source}"


def key_mapping_fingerprint(mappings) -> str:
    """A short digest of a project's mapping: when it changes, every member is re-sent."""
    parts = sorted(f"{m.facebook_key}={m.source}:{m.property_name}" for m in mappings)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


class AuditEvent(models.Model):
    """Who did what, when and from where. Never holds a secret or personal data."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Kept as text too, so the trail survives the deletion of the user or project.
    actor_label = models.CharField(max_length=150, blank=True)
    project = models.ForeignKey(
        Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_events"
    )
    project_label = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at"], name="audit_created_idx"),
            models.Index(fields=["project", "-created_at"], name="audit_project_created_idx"),
            models.Index(fields=["actor", "-created_at"], name="audit_actor_created_idx"),
            models.Index(fields=["action", "-created_at"], name="audit_action_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label or 'system'} {self.action}"

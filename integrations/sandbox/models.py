"""State of the local Facebook (the sandbox owns these tables).

Tokens and OAuth codes are stored as SHA-256 digests only: a token is shown once, when
it is minted, and the database never holds it. Audience members are stored as one
64-bit digest per uploaded row (see `rows.row_key`), unique per audience, so adding a
row twice is a no-op and removing an absent row is one too. (64 bits keep the unique
index small enough for a million rows per audience to insert quickly; a collision
among a million rows has a chance of about 3 in 100 million.)

Like Meta, which answers an upload at once and processes it later, the sandbox only
logs an accepted users/usersreplace call (`SandboxUploadLog`); the member table is
brought up to date from the log when something reads it (`member_log`).
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

SHARE_VALIDATORS = [MinValueValidator(0.0), MaxValueValidator(1.0)]


class SandboxBusiness(models.Model):
    fb_id = models.CharField("Business id", max_length=20, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        verbose_name = "business (Business Manager)"
        verbose_name_plural = "businesses (Business Manager)"

    def __str__(self) -> str:
        return f"{self.name} ({self.fb_id})"


class SandboxPerson(models.Model):
    """A Facebook user who can log in through the sandbox's OAuth dialog."""

    fb_id = models.CharField("user id", max_length=20, unique=True)
    key = models.SlugField(unique=True, help_text="Stable name for tools and tests, e.g. 'ready'.")
    name = models.CharField(max_length=200)
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = "person"
        ordering = ["fb_id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.fb_id})"


class SandboxAdAccount(models.Model):
    class Status(models.IntegerChoices):
        ACTIVE = 1, "Active"
        DISABLED = 2, "Disabled"
        UNSETTLED = 3, "Unsettled"

    account_id = models.CharField(max_length=20, unique=True, help_text="Digits, without act_.")
    name = models.CharField(max_length=200)
    business = models.ForeignKey(
        SandboxBusiness,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="ad_accounts",
        help_text="Empty: the ad account is not in a Business Manager (customer-file audiences are refused).",
    )
    currency = models.CharField(max_length=3, default="USD")
    timezone_name = models.CharField(max_length=64, default="America/Los_Angeles")
    account_status = models.PositiveSmallIntegerField(choices=Status.choices, default=Status.ACTIVE)

    class Meta:
        verbose_name = "ad account"
        ordering = ["account_id"]

    def __str__(self) -> str:
        return f"act_{self.account_id} {self.name}"

    @property
    def act_id(self) -> str:
        return f"act_{self.account_id}"


class SandboxAdAccountRole(models.Model):
    """A person's role on an ad account, and whether they accepted the Custom Audience Terms."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        ADVERTISER = "advertiser", "Advertiser"
        ANALYST = "analyst", "Analyst (read only: cannot manage audiences)"

    person = models.ForeignKey(SandboxPerson, on_delete=models.CASCADE, related_name="roles")
    ad_account = models.ForeignKey(SandboxAdAccount, on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ADMIN)
    terms_accepted = models.BooleanField(
        "Custom Audience Terms accepted", default=True, help_text="Accepted per person, per ad account."
    )

    class Meta:
        verbose_name = "ad account role"
        constraints = [models.UniqueConstraint(fields=["person", "ad_account"], name="sandbox_role_unique")]

    def __str__(self) -> str:
        return f"{self.person.name} on act_{self.ad_account.account_id}: {self.role}"

    @property
    def can_manage_audiences(self) -> bool:
        return self.role in {self.Role.ADMIN, self.Role.ADVERTISER}


class SandboxToken(models.Model):
    class Kind(models.TextChoices):
        USER_SHORT = "user_short", "User (short-lived)"
        USER_LONG = "user_long", "User (long-lived)"
        APP = "app", "App"

    class Revocation(models.IntegerChoices):
        # Meta's 190 subcodes for a token that stopped working.
        APP_REMOVED = 458, "458: the person removed the app"
        CHECKPOINT = 459, "459: security checkpoint"
        PASSWORD_CHANGED = 460, "460: password changed"

    digest = models.CharField("SHA-256 of the token", max_length=64, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    person = models.ForeignKey(SandboxPerson, null=True, blank=True, on_delete=models.CASCADE, related_name="tokens")
    app_id = models.CharField(max_length=20)
    scopes = models.JSONField(default=list, blank=True)
    declined_scopes = models.JSONField(default=list, blank=True)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_subcode = models.PositiveIntegerField(choices=Revocation.choices, null=True, blank=True)

    class Meta:
        verbose_name = "token"
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        who = self.person.name if self.person_id else f"app {self.app_id}"
        return f"{self.get_kind_display()} for {who} ({self.digest[:8]}…)"


class SandboxAuthCode(models.Model):
    digest = models.CharField(max_length=64, unique=True)
    person = models.ForeignKey(SandboxPerson, on_delete=models.CASCADE)
    app_id = models.CharField(max_length=20)
    redirect_uri = models.TextField()
    scopes = models.JSONField(default=list)
    declined_scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OAuth code"

    def __str__(self) -> str:
        return f"OAuth code for {self.person.name}"


class SandboxAudience(models.Model):
    fb_id = models.CharField("audience id", max_length=20, unique=True)
    ad_account = models.ForeignKey(SandboxAdAccount, on_delete=models.CASCADE, related_name="audiences")
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    subtype = models.CharField(max_length=30, default="CUSTOM")
    customer_file_source = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="Set: the audience was deleted at Facebook (calls answer 100/33)."
    )
    flagged = models.BooleanField(
        default=False, help_text="Integrity restriction (operation_status 471): uploads answer 1713230."
    )
    # Counts of the member table, kept by `member_log` as it applies the upload log (a
    # COUNT of the matched rows of a million-row audience would need an index of its own,
    # which every insert would pay for). Valid once the log is applied.
    rows_held = models.PositiveIntegerField(default=0, editable=False)
    rows_matched = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = "custom audience"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.fb_id})"


class SandboxAudienceMember(models.Model):
    """A row the audience holds, as of the last application of the upload log.

    Read it through `selectors` (which apply the log first), not directly.
    """

    # No index of its own: the unique (audience, row_key) index serves every lookup by
    # audience, and each extra index costs every inserted row.
    audience = models.ForeignKey(SandboxAudience, on_delete=models.CASCADE, related_name="members", db_index=False)
    row_key = models.BigIntegerField(help_text="First 8 bytes of the SHA-256 of the row, as a signed integer.")
    matched = models.BooleanField(default=False)
    # The usersreplace session that last wrote the row: at the end of a replace, rows of
    # any other session are dropped.
    replace_session_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = "audience member"
        constraints = [
            models.UniqueConstraint(fields=["audience", "row_key"], name="sandbox_member_unique_key"),
        ]

    def __str__(self) -> str:
        return f"row {self.row_key} of audience {self.audience_id}"


class SandboxUploadSession(models.Model):
    class Operation(models.TextChoices):
        ADD = "add", "Add (POST users)"
        REMOVE = "remove", "Remove (DELETE users)"
        REPLACE = "replace", "Replace (usersreplace)"

    audience = models.ForeignKey(SandboxAudience, on_delete=models.CASCADE, related_name="sessions")
    session_id = models.BigIntegerField()
    operation = models.CharField(max_length=10, choices=Operation.choices)
    last_batch_seq = models.PositiveIntegerField(default=0)
    closed = models.BooleanField(default=False)
    estimated_num_total = models.PositiveIntegerField(null=True, blank=True)
    num_received = models.PositiveIntegerField(default=0)
    num_invalid_entries = models.PositiveIntegerField(default=0)
    num_matched = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "upload session"
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["audience", "session_id"], name="sandbox_session_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.operation} session {self.session_id}"


class SandboxUploadLog(models.Model):
    """One accepted users / usersreplace call, waiting to be applied to the member table.

    Written in one INSERT once the call passed every check; `member_log` applies the
    entries of an audience in id order and deletes them. The row keys are packed as
    sorted 64-bit integers (`array("q").tobytes()`), split by whether they matched a
    Facebook person of the population of `population_size` people.
    """

    audience = models.ForeignKey(SandboxAudience, on_delete=models.CASCADE, related_name="upload_log")
    operation = models.CharField(max_length=10, choices=SandboxUploadSession.Operation.choices)
    session_id = models.BigIntegerField(null=True, blank=True)
    batch_seq = models.PositiveIntegerField(null=True, blank=True)
    wipe_before = models.BooleanField(
        default=False, help_text="The first batch of a replace: empty the audience first."
    )
    finish_after = models.BooleanField(
        default=False, help_text="A replace session ended: then keep only the rows it sent."
    )
    population_size = models.PositiveIntegerField()
    matched_keys = models.BinaryField()
    unmatched_keys = models.BinaryField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "upload log entry"
        verbose_name_plural = "upload log"

    def __str__(self) -> str:
        return f"{self.operation} call {self.pk} to audience {self.audience_id}"


class SandboxFaultSwitch(models.Model):
    """Faults injected into Graph calls: everywhere (no ad account) or on one ad account."""

    class ThrottleCode(models.IntegerChoices):
        CUSTOM_AUDIENCE = 80003, "80003: custom audience calls on this ad account"
        ADS_MANAGEMENT = 80004, "80004: ads management calls on this ad account"
        ADS_INSIGHTS = 80000, "80000: ads insights calls on this ad account"
        AD_ACCOUNT = 613, "613: too many calls from this ad account"
        USER = 17, "17: user request limit"
        APP = 4, "4: application request limit"

    ad_account = models.OneToOneField(
        SandboxAdAccount,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="fault_switch",
        help_text="Empty: applies to every Graph call without a switch of its own.",
    )
    enabled = models.BooleanField(default=True)
    server_error_share = models.FloatField(default=0.0, validators=SHARE_VALIDATORS)
    throttle_share = models.FloatField(default=0.0, validators=SHARE_VALIDATORS)
    throttle_code = models.PositiveIntegerField(choices=ThrottleCode.choices, default=ThrottleCode.CUSTOM_AUDIENCE)
    throttle_regain_minutes = models.PositiveIntegerField(
        default=0, help_text="estimated_time_to_regain_access sent with a throttle (minutes)."
    )
    latency_ms = models.PositiveIntegerField(default=0, help_text="Added to every call.")
    timeout_share = models.FloatField(
        default=0.0,
        validators=SHARE_VALIDATORS,
        help_text="Share of calls whose answer is held back after the work is done (the client times out).",
    )
    timeout_seconds = models.FloatField(default=90.0)
    seed = models.IntegerField(default=0, help_text="Same seed, same sequence of faults.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "fault switch"

    def __str__(self) -> str:
        where = f"act_{self.ad_account.account_id}" if self.ad_account_id else "every ad account"
        return f"Faults on {where}"


class SandboxReportRun(models.Model):
    """An async insights report run (the rows come from `insights.insights_rows`)."""

    fb_id = models.CharField(max_length=20, unique=True)
    ad_account = models.ForeignKey(SandboxAdAccount, on_delete=models.CASCADE)
    params = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Report run {self.fb_id}"

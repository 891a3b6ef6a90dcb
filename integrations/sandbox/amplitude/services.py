"""What the local Amplitude does: its demo project and cohorts, cohorts made by scripts, exports."""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from integrations.sandbox.amplitude import conf, exports
from integrations.sandbox.amplitude.membership import CohortShape, drift_hours, member_indexes
from integrations.sandbox.amplitude.models import (
    DEFAULT_API_KEY,
    DEFAULT_SECRET_KEY,
    SandboxAmplitudeProject,
    SandboxCohort,
    SandboxExport,
)

DEFAULT_APP_ID = 100001
# (id, name, description, size, seed, members drifting per hour, archived)
DEFAULT_COHORTS = [
    ("sbx0500", "Power users", "Active on 20 of the last 30 days", 500, 1, 5, False),
    ("sbx5k00", "Trial users", "Started a trial in the last 14 days", 5_000, 2, 25, False),
    ("sbx50k0", "Purchasers, last 30 days", "Completed a purchase in the last 30 days", 50_000, 3, 250, False),
    ("sbx200k", "Newsletter subscribers", "Subscribed to the newsletter", 200_000, 4, 500, False),
    ("sbxold1", "Spring campaign 2025", "Clicked the spring campaign email", 1_000, 5, 0, True),
]
_ID_ALPHABET = string.ascii_lowercase + string.digits


def pool_size_for(size: int) -> int:
    """A quarter more people than members: room to drift, and overlap between cohorts."""
    return size + max(size // 4, 100)


@transaction.atomic
def sandbox_amplitude_seed() -> SandboxAmplitudeProject:
    """The demo project (keys sandbox-api-key / sandbox-secret-key) and its default cohorts."""
    project, _ = SandboxAmplitudeProject.objects.get_or_create(
        api_key=DEFAULT_API_KEY,
        defaults={"name": "Demo project (sandbox)", "app_id": DEFAULT_APP_ID, "secret_key": DEFAULT_SECRET_KEY},
    )
    anchor = timezone.now().replace(minute=0, second=0, microsecond=0)
    for cohort_id, name, description, size, seed, drift, archived in DEFAULT_COHORTS:
        SandboxCohort.objects.get_or_create(
            cohort_id=cohort_id,
            defaults={
                "project": project,
                "name": name,
                "description": description,
                "size": size,
                "seed": seed,
                "pool_size": pool_size_for(size),
                "drift_per_hour": drift,
                "drift_anchor": anchor,
                "changed_at": anchor,
                "archived": archived,
                "is_default": True,
            },
        )
    return project


def sandbox_project_for_keys(api_key: str, secret_key: str) -> SandboxAmplitudeProject | None:
    """The project these Basic-auth keys open, or None (the demo project is created on first use)."""
    import hmac

    project = SandboxAmplitudeProject.objects.filter(api_key=api_key).first()
    if project is None and api_key == DEFAULT_API_KEY:
        project = sandbox_amplitude_seed()
    if project is None or not hmac.compare_digest(project.secret_key.encode(), secret_key.encode()):
        return None
    return project


def sandbox_throttle_take(project: SandboxAmplitudeProject) -> bool:
    """Whether this request is answered 429: a countdown switch, then the random share."""
    import random

    if project.throttle_next and SandboxAmplitudeProject.objects.filter(pk=project.pk, throttle_next__gt=0).update(
        throttle_next=F("throttle_next") - 1
    ):
        return True
    share = max(project.throttle_share, conf.throttle_share())
    return share > 0 and random.random() < share


# --- cohorts --------------------------------------------------------------------------------


def cohort_shape(cohort: SandboxCohort, *, at: datetime | None = None) -> CohortShape:
    at = at or timezone.now()
    drifted = cohort.drift_per_hour * drift_hours(cohort.drift_anchor, at)
    return CohortShape(
        size=cohort.size,
        seed=cohort.seed,
        pool_size=cohort.pool_size,
        shift=cohort.shift + drifted,
        email_windows=tuple((int(first), int(count)) for first, count in cohort.email_changes),
    )


def cohort_last_computed(cohort: SandboxCohort, *, at: datetime | None = None) -> int:
    """Epoch seconds of the last membership change: it moves only when members change."""
    at = at or timezone.now()
    moments = [cohort.changed_at]
    if cohort.drift_per_hour:
        hours = drift_hours(cohort.drift_anchor, at)
        moments.append(cohort.drift_anchor + timedelta(hours=hours))
    return int(max(moments).timestamp())


def sandbox_cohort_members(cohort: SandboxCohort, *, at: datetime | None = None) -> Iterator[int]:
    """Population indexes of the members (for tests and scripts comparing with an audience)."""
    for index, _position in member_indexes(cohort_shape(cohort, at=at)):
        yield index


def _new_cohort_id() -> str:
    while True:
        candidate = "".join(secrets.choice(_ID_ALPHABET) for _ in range(7))
        if not SandboxCohort.objects.filter(cohort_id=candidate).exists():
            return candidate


def sandbox_cohort_create(
    *,
    size: int,
    name: str,
    seed: int | None = None,
    project: SandboxAmplitudeProject | None = None,
    drift_per_hour: int = 0,
    description: str = "",
) -> SandboxCohort:
    """A cohort for a script, test or benchmark: `size` members, stable until changed by hand."""
    if size < 1:
        raise ValueError("A cohort needs at least one member.")
    project = project or sandbox_amplitude_seed()
    now = timezone.now()
    return SandboxCohort.objects.create(
        project=project,
        cohort_id=_new_cohort_id(),
        name=name,
        description=description,
        size=size,
        seed=seed if seed is not None else secrets.randbelow(2**31),
        pool_size=pool_size_for(size),
        drift_per_hour=drift_per_hour,
        drift_anchor=now,
        changed_at=now,
    )


@dataclass(frozen=True)
class CohortChange:
    left: int
    joined: int
    email_changed: int

    @property
    def changed(self) -> int:
        """Members of the old cohort who are gone or look different."""
        return self.left + self.email_changed


@transaction.atomic
def sandbox_cohort_change(*, cohort: SandboxCohort, percent: float) -> CohortChange:
    """Make `percent` % of the members change: two thirds leave (as many join), one third change email."""
    if not 0 < percent <= 100:
        raise ValueError("percent must be in (0, 100].")
    cohort = SandboxCohort.objects.select_for_update().get(pk=cohort.pk)
    changed = max(1, round(cohort.size * percent / 100))
    email_changed = changed // 3
    moved = changed - email_changed
    shape = cohort_shape(cohort)
    new_shift = cohort.shift + moved
    if email_changed:
        # The first members of the moved window were members before too: only their email changes.
        first_position = (shape.shift + moved) % cohort.pool_size
        cohort.email_changes = [*cohort.email_changes, [first_position, email_changed]]
    cohort.shift = new_shift
    # One second later at least: lastComputed must move even for two changes in a second.
    cohort.changed_at = max(timezone.now(), cohort.changed_at + timedelta(seconds=1))
    cohort.save(update_fields=["shift", "email_changes", "changed_at"])
    return CohortChange(left=moved, joined=moved, email_changed=email_changed)


# --- exports --------------------------------------------------------------------------------


def sandbox_export_create(*, cohort: SandboxCohort, prop_keys: list[str]) -> SandboxExport:
    """Step 1: snapshot the membership and start writing its file."""
    shape = cohort_shape(cohort)
    file_name = exports.export_file_name(shape=shape, prop_keys=prop_keys)
    export = SandboxExport.objects.create(
        request_id=secrets.token_urlsafe(9).replace("-", "x").replace("_", "y"),
        cohort=cohort,
        prop_keys=prop_keys,
        shift=shape.shift,
        email_changes=[list(window) for window in shape.email_windows],
        file_name=file_name,
    )
    exports.export_start(file_name=file_name, shape=shape, prop_keys=prop_keys)
    return export


def export_shape(export: SandboxExport) -> CohortShape:
    cohort = export.cohort
    return CohortShape(
        size=cohort.size,
        seed=cohort.seed,
        pool_size=cohort.pool_size,
        shift=export.shift,
        email_windows=tuple((int(first), int(count)) for first, count in export.email_changes),
    )


def sandbox_export_poll(*, export: SandboxExport) -> bool:
    """Step 2: True once the file is written and the job was seen in progress often enough."""
    SandboxExport.objects.filter(pk=export.pk).update(polls=F("polls") + 1)
    export.refresh_from_db(fields=["polls"])
    if not exports.export_ready(export.file_name):
        # Written by another process, or lost with a restart: (re)start it, idempotently.
        exports.export_start(file_name=export.file_name, shape=export_shape(export), prop_keys=export.prop_keys)
        return False
    return export.polls > conf.status_polls(export.cohort.project.status_polls)


def sandbox_export_warm(*, cohort: SandboxCohort, prop_keys: list[str], timeout: float = 900) -> str:
    """Write the current membership's file now (benchmarks time the download, not the writing)."""
    shape = cohort_shape(cohort)
    file_name = exports.export_file_name(shape=shape, prop_keys=prop_keys)
    exports.export_start(file_name=file_name, shape=shape, prop_keys=prop_keys)
    exports.export_wait(file_name, timeout=timeout)
    return file_name

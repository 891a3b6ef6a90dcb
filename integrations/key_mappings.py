"""A project's key mapping as the rest of the tool uses it: schema, download plan, validation.

The mapping says which Amplitude identifier feeds each Facebook match key. From it follow
the upload schema (the mapped keys in Meta's order), what a cohort download must ask
Amplitude for (user properties by name; the device id as a property), the CSV columns an
upload must carry, and a fingerprint that changes whenever the encoded rows would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from integrations.facebook.match_keys import IDENTIFYING_KEYS
from integrations.models import FACEBOOK_KEY_ORDER, KeyMapping, Project, key_mapping_fingerprint

# The seed's explanation, shown wherever a mapping without such a key is refused.
IDENTIFYING_KEY_REQUIRED = (
    "At least one key must identify a person (email, phone, mobile advertiser id or external id); "
    "more keys give better matches."
)
RESEND_WARNING = (
    "Sync jobs of this project have already sent members to Facebook. Their next run re-sends every "
    "member with the new keys (the cohorts' members are encoded again first)."
)
CSV_REUPLOAD_WARNING = (
    "Cohorts uploaded as CSV files cannot be encoded again without their file (raw values are never "
    "stored): upload {names} again."
)
_KEY_POSITION = {key: position for position, key in enumerate(FACEBOOK_KEY_ORDER)}


@dataclass(frozen=True, slots=True)
class MappedKey:
    """One Facebook key and the Amplitude identifier that feeds it."""

    facebook_key: str
    source: str  # KeyMapping.Source value
    property_name: str = ""

    @property
    def column(self) -> str:
        """The column holding the raw value, in an Amplitude export or an uploaded CSV."""
        if self.source == KeyMapping.Source.USER_PROPERTY:
            return self.property_name
        return self.source  # "user_id" or "device_id"

    @property
    def prop_key(self) -> str | None:
        """What a download must request as `propKeys` (None: the export always has it).

        Amplitude's export has `amplitude_id` and `user_id` columns; a device id is only
        there when asked for as a property (amplitude-cohorts-api.md, "File format").
        """
        if self.source == KeyMapping.Source.USER_ID:
            return None
        return self.column


@dataclass(frozen=True, slots=True)
class KeyPlan:
    """Everything a download, an upload or an encoder needs to know about a project's mapping."""

    keys: tuple[MappedKey, ...]  # in Meta's schema order
    fingerprint: str
    default_country: str | None

    @property
    def schema(self) -> list[str]:
        return [key.facebook_key for key in self.keys]

    @property
    def columns(self) -> list[str]:
        """Source column per schema key (one column may feed several keys, like FN and FI)."""
        return [key.column for key in self.keys]

    @property
    def prop_keys(self) -> list[str]:
        """Distinct properties to request from Amplitude, in schema order."""
        seen: dict[str, None] = {}
        for key in self.keys:
            if key.prop_key is not None:
                seen.setdefault(key.prop_key, None)
        return list(seen)

    @property
    def identifying_keys(self) -> list[str]:
        return [key.facebook_key for key in self.keys if key.facebook_key in IDENTIFYING_KEYS]

    @property
    def has_identifying_key(self) -> bool:
        return bool(self.identifying_keys)


def key_plan_build(mappings: Iterable[MappedKey | KeyMapping], *, default_country: str | None) -> KeyPlan:
    keys = sorted(
        (MappedKey(m.facebook_key, m.source, m.property_name or "") for m in mappings),
        key=lambda key: _KEY_POSITION[key.facebook_key],
    )
    return KeyPlan(
        keys=tuple(keys),
        fingerprint=mapping_fingerprint(keys, default_country=default_country),
        default_country=default_country or None,
    )


def mapping_fingerprint(mappings: Iterable[MappedKey | KeyMapping], *, default_country: str | None) -> str:
    """Changes whenever the encoded rows could: the mapping itself or the phone country.

    Built on `key_mapping_fingerprint` (the mapping alone) plus the project's default
    country, which decides how national phone numbers are encoded.
    """
    base = key_mapping_fingerprint(list(mappings))
    return hashlib.sha256(f"{base}|country={default_country or ''}".encode()).hexdigest()[:16]


def project_key_plan(project: Project) -> KeyPlan:
    """The project's current mapping (one query)."""
    mappings = KeyMapping.objects.filter(project=project).only("facebook_key", "source", "property_name")
    return key_plan_build(mappings, default_country=project.default_country)


def project_schema(project: Project) -> list[str]:
    """The project's mapped Facebook keys in Meta's order: the upload schema."""
    return project_key_plan(project).schema


def project_mapping_fingerprint(project: Project) -> str:
    """What `Cohort.members_mapping_fingerprint` is compared with."""
    return project_key_plan(project).fingerprint


# --- validation ---------------------------------------------------------------------------


def key_mapping_problems(keys: Iterable[MappedKey]) -> list[str]:
    """Why a complete mapping would be refused (empty list: it is acceptable)."""
    keys = list(keys)
    problems = []
    if not any(key.facebook_key in IDENTIFYING_KEYS for key in keys):
        problems.append(IDENTIFYING_KEY_REQUIRED)
    seen: set[str] = set()
    for key in keys:
        if key.facebook_key in seen:
            problems.append(f"{key.facebook_key} is mapped twice; each Facebook key takes one source.")
        seen.add(key.facebook_key)
    return problems


def project_mapping_after_change(
    *, project_id: int, removing_pk: int | None = None, adding: MappedKey | None = None
) -> list[MappedKey]:
    """The project's mapping as it would be after removing one row and/or adding one."""
    rows = KeyMapping.objects.filter(project_id=project_id)
    if removing_pk is not None:
        rows = rows.exclude(pk=removing_pk)
    keys = [MappedKey(m.facebook_key, m.source, m.property_name) for m in rows]
    if adding is not None:
        keys = [key for key in keys if key.facebook_key != adding.facebook_key] + [adding]
    return keys


def key_mapping_change_problems(
    *, project_id: int, removing_pk: int | None = None, adding: MappedKey | None = None
) -> list[str]:
    """Why saving (or deleting) one mapping row would leave the project with an unusable mapping."""
    keys = project_mapping_after_change(project_id=project_id, removing_pk=removing_pk, adding=adding)
    return key_mapping_problems(keys)


def project_has_synced(project_id: int) -> bool:
    """Whether any sync job of the project's cohorts has ever succeeded."""
    from syncs.models import SyncJob  # syncs depends on integrations, not the other way round

    return SyncJob.objects.filter(cohort__project_id=project_id, last_success_at__isnull=False).exists()


def project_csv_cohort_names(project_id: int) -> list[str]:
    """CSV cohorts with members: they need a new upload after a mapping change."""
    from cohorts.models import Cohort

    return list(
        Cohort.objects.filter(project_id=project_id, source=Cohort.Source.CSV, members_count__gt=0)
        .order_by("name")
        .values_list("name", flat=True)[:20]
    )


def key_mapping_change_warnings(project_id: int) -> list[str]:
    """What a person changing this project's mapping should know before (and after) saving."""
    warnings = []
    if project_has_synced(project_id):
        warnings.append(RESEND_WARNING)
    names = project_csv_cohort_names(project_id)
    if names:
        warnings.append(CSV_REUPLOAD_WARNING.format(names=", ".join(names)))
    return warnings

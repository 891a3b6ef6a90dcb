"""Key-quality figures of a cohort, gathered on a sample while its members are encoded.

Per mapped key: how many sampled members have a value, how many values are usable, how
many arrive already hashed; how many members have no usable identifying key; and a few
rows as they would be uploaded. Only counts and digests are kept (never raw values), so
the figures can be stored on the CohortImport and shown before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from integrations.facebook import match_keys
from integrations.key_mappings import KeyPlan

SAMPLE_ROWS = 10_000
EXAMPLE_ROWS = 3
_DIGEST = re.compile(r"[0-9a-f]{64}")
_COUNTRY_CONTEXT_KEYS = frozenset({"PHONE", "ZIP"})


class KeyQualitySampler:
    """Feed it chunks of (raw rows, their encode_rows result); it keeps counts on the first rows."""

    def __init__(self, plan: KeyPlan, *, sample_rows: int = SAMPLE_ROWS) -> None:
        self.plan = plan
        self.sample_rows = sample_rows
        self.schema = plan.schema
        self.rows = 0
        self.no_identifying_key = 0
        self.counts = {key: dict.fromkeys(("missing", "invalid", "hashed", "valid"), 0) for key in self.schema}
        self.examples: list[list[str]] = []
        self._country_at = self.schema.index("COUNTRY") if "COUNTRY" in self.schema else None

    @property
    def full(self) -> bool:
        return self.rows >= self.sample_rows

    def add(self, raw_rows: Sequence[Sequence[str]], encoded: match_keys.EncodedRows) -> None:
        take = min(len(raw_rows), self.sample_rows - self.rows)
        if take <= 0:
            return
        default_country = self.plan.default_country
        classify = match_keys.classify
        for raw in raw_rows[:take]:
            row_country = self._row_country(raw) or default_country
            for key, value in zip(self.schema, raw, strict=True):
                country = row_country if key in _COUNTRY_CONTEXT_KEYS else default_country
                self.counts[key][classify(key, value, default_country=country)] += 1
        self.rows += take
        self.no_identifying_key += sum(
            1
            for index, reason in encoded.rejected
            if index < take and reason == match_keys.REJECT_NO_IDENTIFYING_KEY
        )
        for row in encoded.rows[: max(0, EXAMPLE_ROWS - len(self.examples))]:
            self.examples.append([mask_uploaded_value(value) for value in row])

    def _row_country(self, raw: Sequence[str]) -> str | None:
        """encode_rows reads PHONE and ZIP in the row's own COUNTRY when it has one; so do we."""
        if self._country_at is None:
            return None
        country = match_keys.normalize("COUNTRY", raw[self._country_at])
        return country.upper() if country and len(country) == 2 else None

    def result(self) -> dict:
        return {
            "sample_rows": self.rows,
            "schema": self.schema,
            "columns": self.plan.columns,
            "mapping_fingerprint": self.plan.fingerprint,
            "keys": [{"key": key, **self.counts[key]} for key in self.schema],
            "no_identifying_key": self.no_identifying_key,
            "examples": self.examples,
        }


def mask_uploaded_value(value: str) -> str:
    """A digest is shown shortened; a value Meta takes in the clear (ids) is hidden."""
    if not value:
        return ""
    if _DIGEST.fullmatch(value):
        return f"{value[:12]}…"
    return "(sent unhashed, hidden)"


@dataclass(frozen=True)
class KeyFigures:
    key: str
    column: str
    filled: float  # shares of the sample, 0..1
    valid: float
    hashed: float
    invalid: float


@dataclass(frozen=True)
class KeyQualityReport:
    sample_rows: int
    keys: list[KeyFigures]
    no_identifying_key_share: float
    examples: list[list[str]]
    schema: list[str]
    members_estimate: int | None  # members that would be sent
    stale: bool  # computed with another mapping than the current one


def key_quality_report(stats: dict, *, members: int | None, current_fingerprint: str) -> KeyQualityReport | None:
    """Shares from stored counts; `members` is the distinct members kept by the full import."""
    sample = int(stats.get("sample_rows") or 0)
    if not sample:
        return None
    columns = stats.get("columns") or [""] * len(stats.get("keys", []))
    keys = []
    for entry, column in zip(stats.get("keys", []), columns, strict=False):
        missing = entry.get("missing", 0)
        keys.append(
            KeyFigures(
                key=entry["key"],
                column=column,
                filled=(sample - missing) / sample,
                valid=entry.get("valid", 0) / sample,
                hashed=entry.get("hashed", 0) / sample,
                invalid=entry.get("invalid", 0) / sample,
            )
        )
    return KeyQualityReport(
        sample_rows=sample,
        keys=keys,
        no_identifying_key_share=stats.get("no_identifying_key", 0) / sample,
        examples=stats.get("examples", []),
        schema=stats.get("schema", []),
        members_estimate=members,
        stale=stats.get("mapping_fingerprint") != current_fingerprint,
    )

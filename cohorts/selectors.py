"""Reads of the cohorts app: members for the sync engine, usage, key quality."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.conf import settings

from cohorts.key_quality import KeyQualityReport, key_quality_report
from cohorts.member_import import cohort_member_hashes_sorted
from cohorts.models import AmplitudeUsage, Cohort, CohortImport, CohortMember
from cohorts.services import usage_month
from integrations.key_mappings import project_mapping_fingerprint

DEFAULT_DOWNLOAD_CAP = 500  # Amplitude's monthly cap on Growth and Enterprise plans


def cohort_member_hashes(*, cohort_id: int) -> array:
    """The cohort's row hashes, ascending, as a compact array('q') (8 bytes per member)."""
    return cohort_member_hashes_sorted(cohort_id=cohort_id)


def cohort_member_rows(*, cohort_id: int, chunk_size: int = 10_000) -> Iterator[list[tuple[int, str]]]:
    """Every member as (row_hash, row JSON), ascending by hash, a chunk at a time.

    Keyset pagination on the (cohort, row_hash) unique index: each chunk is one query,
    and no chunk grows with the cohort.
    """
    after: int | None = None
    while True:
        rows = CohortMember.objects.filter(cohort_id=cohort_id)
        if after is not None:
            rows = rows.filter(row_hash__gt=after)
        chunk = list(rows.order_by("row_hash").values_list("row_hash", "row")[:chunk_size])
        if not chunk:
            return
        yield chunk
        after = chunk[-1][0]


def cohort_member_rows_by_hash(
    *, cohort_id: int, row_hashes: Iterable[int], chunk_size: int = 500
) -> Iterator[tuple[int, str]]:
    """The stored rows of the given hashes (those the engine must add), in chunks of queries."""
    batch: list[int] = []
    for row_hash in row_hashes:
        batch.append(row_hash)
        if len(batch) >= chunk_size:
            yield from CohortMember.objects.filter(cohort_id=cohort_id, row_hash__in=batch).values_list(
                "row_hash", "row"
            )
            batch = []
    if batch:
        yield from CohortMember.objects.filter(cohort_id=cohort_id, row_hash__in=batch).values_list("row_hash", "row")


def cohort_last_import(*, cohort: Cohort, with_members: bool = False) -> CohortImport | None:
    """The newest import; with_members: the newest that actually stored members."""
    imports = CohortImport.objects.filter(cohort=cohort)
    if with_members:
        imports = imports.filter(status=CohortImport.Status.SUCCEEDED)
    return imports.order_by("-started_at", "-id").first()


def cohort_key_quality(*, cohort: Cohort) -> KeyQualityReport | None:
    """Figures of the last successful import, flagged stale when the mapping changed since."""
    record = cohort_last_import(cohort=cohort, with_members=True)
    if record is None or not record.key_quality:
        return None
    return key_quality_report(
        record.key_quality,
        members=record.members_after,
        current_fingerprint=project_mapping_fingerprint(cohort.project),
    )


@dataclass(frozen=True)
class DownloadUsage:
    project_id: int
    downloads: int
    other_requests: int
    cap: int

    @property
    def label(self) -> str:
        if not self.cap:
            return f"{self.downloads} downloads this month"
        return f"{self.downloads} of {self.cap} downloads this month"

    @property
    def near_cap(self) -> bool:
        return bool(self.cap) and self.downloads >= 0.9 * self.cap


def amplitude_download_cap() -> int:
    return int(getattr(settings, "AMPLITUDE_MONTHLY_DOWNLOAD_CAP", DEFAULT_DOWNLOAD_CAP))


def amplitude_usage_this_month(*, project_ids: Iterable[int]) -> dict[int, DownloadUsage]:
    """Usage per project this month, in one query (projects without requests show 0)."""
    project_ids = list(project_ids)
    cap = amplitude_download_cap()
    rows = AmplitudeUsage.objects.filter(project_id__in=project_ids, month=usage_month()).values_list(
        "project_id", "download_requests", "other_requests"
    )
    found = {pid: DownloadUsage(pid, downloads, other, cap) for pid, downloads, other in rows}
    return {pid: found.get(pid, DownloadUsage(pid, 0, 0, cap)) for pid in project_ids}

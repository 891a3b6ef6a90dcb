"""What a run must send: the difference between the cohort's rows and the job's ledger.

Both sides are rows as uploaded (`CohortMember.row` / `AudienceMember.row`, compact
JSON arrays) identified by `row_hash`. The difference is computed by the database
with keyset pages ordered by `row_hash`, so a 2,000,000-member cohort never sits in a
worker's memory: only one page of rows (a batch) at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection

from syncs.models import SyncJob

MEMBER_TABLE = "cohorts_cohortmember"
LEDGER_TABLE = "syncs_audiencemember"


@dataclass(frozen=True)
class Plan:
    cohort_rows: int
    ledger_rows: int  # rows this job has in the audience now (present)
    unchanged: int

    @property
    def to_add(self) -> int:
        return self.cohort_rows - self.unchanged

    @property
    def to_remove(self) -> int:
        return self.ledger_rows - self.unchanged

    @property
    def removal_share(self) -> float:
        """Share of the audience's current people who left or changed keys (0 when it is empty).

        Additions alone (a first sync, a run resuming after a crash) never make a replace
        worthwhile: only changes to the people already there do.
        """
        return self.to_remove / self.ledger_rows if self.ledger_rows else 0.0


def _scalar(sql: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0] or 0)


def plan_compute(*, job: SyncJob) -> Plan:
    cohort_rows = _scalar(f"SELECT COUNT(*) FROM {MEMBER_TABLE} WHERE cohort_id = %s", [job.cohort_id])  # noqa: S608
    ledger_rows = _scalar(
        f"SELECT COUNT(*) FROM {LEDGER_TABLE} WHERE job_id = %s AND present = %s",  # noqa: S608
        [job.pk, True],
    )
    unchanged = 0
    if cohort_rows and ledger_rows:
        unchanged = _scalar(
            f"SELECT COUNT(*) FROM {MEMBER_TABLE} cm JOIN {LEDGER_TABLE} am "  # noqa: S608
            "ON am.job_id = %s AND am.row_hash = cm.row_hash AND am.present = %s WHERE cm.cohort_id = %s",
            [job.pk, True, job.cohort_id],
        )
    return Plan(cohort_rows=cohort_rows, ledger_rows=ledger_rows, unchanged=unchanged)


def _byte_length_sql(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"OCTET_LENGTH({column})"
    return f"LENGTH(CAST({column} AS BLOB))"


def longest_row_bytes(*, job: SyncJob, operation: str) -> int:
    """The longest row (in bytes) a batch of this operation can carry, for the size cap."""
    length = _byte_length_sql("row")
    if operation == "remove":
        sql = f"SELECT MAX({length}) FROM {LEDGER_TABLE} WHERE job_id = %s AND present = %s"  # noqa: S608
        return _scalar(sql, [job.pk, True])
    return _scalar(f"SELECT MAX({length}) FROM {MEMBER_TABLE} WHERE cohort_id = %s", [job.cohort_id])  # noqa: S608


def _pages(sql_first: str, sql_next: str, params: list, page_rows: int) -> Iterator[list[tuple[int, str]]]:
    last: int | None = None
    while True:
        with connection.cursor() as cursor:
            if last is None:
                cursor.execute(sql_first, [*params, page_rows])
            else:
                cursor.execute(sql_next, [*params, last, page_rows])
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        if len(rows) < page_rows:
            return
        last = rows[-1][0]


def rows_to_add(*, job: SyncJob, page_rows: int) -> Iterator[list[tuple[int, str]]]:
    """Pages of (row_hash, row) in the cohort and not (present) in the ledger."""
    base = (
        f"SELECT cm.row_hash, cm.row FROM {MEMBER_TABLE} cm WHERE cm.cohort_id = %s "  # noqa: S608
        f"AND NOT EXISTS (SELECT 1 FROM {LEDGER_TABLE} am "
        "WHERE am.job_id = %s AND am.row_hash = cm.row_hash AND am.present = %s)"
    )
    order = " ORDER BY cm.row_hash LIMIT %s"
    yield from _pages(base + order, base + " AND cm.row_hash > %s" + order, [job.cohort_id, job.pk, True], page_rows)


def rows_to_remove(*, job: SyncJob, page_rows: int) -> Iterator[list[tuple[int, str]]]:
    """Pages of (row_hash, row) present in the ledger and gone from the cohort."""
    base = (
        f"SELECT am.row_hash, am.row FROM {LEDGER_TABLE} am WHERE am.job_id = %s AND am.present = %s "  # noqa: S608
        f"AND NOT EXISTS (SELECT 1 FROM {MEMBER_TABLE} cm WHERE cm.cohort_id = %s AND cm.row_hash = am.row_hash)"
    )
    order = " ORDER BY am.row_hash LIMIT %s"
    yield from _pages(base + order, base + " AND am.row_hash > %s" + order, [job.pk, True, job.cohort_id], page_rows)


def rows_of_cohort(*, job: SyncJob, page_rows: int) -> Iterator[list[tuple[int, str]]]:
    """Pages of every (row_hash, row) of the cohort: what a full replace sends."""
    base = f"SELECT cm.row_hash, cm.row FROM {MEMBER_TABLE} cm WHERE cm.cohort_id = %s"  # noqa: S608
    order = " ORDER BY cm.row_hash LIMIT %s"
    yield from _pages(base + order, base + " AND cm.row_hash > %s" + order, [job.cohort_id], page_rows)

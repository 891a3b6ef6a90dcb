"""What a run must send: the difference between the cohort's rows and the job's ledger.

Both sides are rows as uploaded (`CohortMember.row` / `AudienceMember.row`, compact
JSON arrays) identified by `row_hash`. The plan reads both sides' row hashes in hash
order (8 bytes each, from the indexes) and merges them once, so it knows exactly which
rows to add and to remove; the upload then reads only those rows, a page (a batch) at a
time, so a 2,000,000-member cohort's rows never sit in a worker's memory. A first sync
(nothing in common) and a full replace read the cohort in keyset pages instead.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from django.db import connection

from cohorts.member_import import row_hash_in
from syncs.models import SyncJob

MEMBER_TABLE = "cohorts_cohortmember"
LEDGER_TABLE = "syncs_audiencemember"
_FETCH_ROWS = 50_000
# Keys Meta takes as SHA-256: always 64 hexadecimal characters (or empty) once encoded.
HASHED_KEYS = frozenset(
    {"EMAIL", "PHONE", "GEN", "DOBY", "DOBM", "DOBD", "LN", "FN", "FI", "CT", "ST", "ZIP", "COUNTRY"}
)


@dataclass(frozen=True)
class Plan:
    cohort_rows: int
    ledger_rows: int  # rows this job has in the audience now (present)
    unchanged: int
    # Row hashes to send, ascending (None: a plan made without them, read with SQL).
    add_hashes: array | None = field(default=None, repr=False, compare=False)
    remove_hashes: array | None = field(default=None, repr=False, compare=False)
    # The job's ledger has no row at all, not even of people who left: a first sync.
    ledger_new: bool = False

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


def _hashes(sql: str, params: list) -> array:
    hashes = array("q")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(_FETCH_ROWS):
            hashes.extend(map(itemgetter(0), rows))
    return hashes


def plan_compute(*, job: SyncJob) -> Plan:
    cohort = _hashes(
        f"SELECT row_hash FROM {MEMBER_TABLE} WHERE cohort_id = %s ORDER BY row_hash",  # noqa: S608
        [job.cohort_id],
    )
    ledger = _hashes(
        f"SELECT row_hash FROM {LEDGER_TABLE} WHERE job_id = %s AND present = %s ORDER BY row_hash",  # noqa: S608
        [job.pk, True],
    )
    to_add, to_remove = _sorted_differences(cohort, ledger)
    ledger_new = not ledger and not _scalar(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {LEDGER_TABLE} WHERE job_id = %s LIMIT 1) AS any_row",  # noqa: S608
        [job.pk],
    )
    return Plan(
        cohort_rows=len(cohort),
        ledger_rows=len(ledger),
        unchanged=len(cohort) - len(to_add),
        add_hashes=to_add,
        remove_hashes=to_remove,
        ledger_new=ledger_new,
    )


def _sorted_differences(cohort: array, ledger: array) -> tuple[array, array]:
    """(in the cohort only, in the ledger only) of two ascending arrays, in one merge pass."""
    to_add, to_remove = array("q"), array("q")
    add, remove = to_add.append, to_remove.append
    i = j = 0
    cohort_size, ledger_size = len(cohort), len(ledger)
    while i < cohort_size and j < ledger_size:
        ours, theirs = cohort[i], ledger[j]
        if ours == theirs:
            i += 1
            j += 1
        elif ours < theirs:
            add(ours)
            i += 1
        else:
            remove(theirs)
            j += 1
    to_add.extend(cohort[i:])
    to_remove.extend(ledger[j:])
    return to_add, to_remove


def row_bytes_bound(schema: Sequence[str]) -> int | None:
    """The longest a row of this schema can be, when every key is hashed (else None: measure it)."""
    if not schema or any(key not in HASHED_KEYS for key in schema):
        return None
    return 2 + len(schema) * (64 + 2) + len(schema) - 1  # ["<64 hex>",...]


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


def _rows_by_hash(table: str, owner: str, owner_id: int, hashes: array, page_rows: int, present: bool):
    """Pages of (row_hash, row) of these hashes (ascending), read by index lookups."""
    extra = " AND present = %s" if present else ""
    for start in range(0, len(hashes), page_rows):
        where, params = row_hash_in(hashes[start : start + page_rows].tolist())
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT row_hash, row FROM {table} WHERE {owner} = %s{extra} AND {where} ORDER BY row_hash",  # noqa: S608
                [owner_id, *([True] if present else []), *params],
            )
            rows = cursor.fetchall()
        if rows:
            yield rows


def rows_to_add(*, job: SyncJob, page_rows: int, plan: Plan | None = None) -> Iterator[list[tuple[int, str]]]:
    """Pages of (row_hash, row) in the cohort and not (present) in the ledger."""
    if plan is not None and plan.add_hashes is not None:
        if plan.unchanged == 0:
            yield from rows_of_cohort(job=job, page_rows=page_rows)  # nothing in common: all of it
        else:
            yield from _rows_by_hash(MEMBER_TABLE, "cohort_id", job.cohort_id, plan.add_hashes, page_rows, False)
        return
    base = (
        f"SELECT cm.row_hash, cm.row FROM {MEMBER_TABLE} cm WHERE cm.cohort_id = %s "  # noqa: S608
        f"AND NOT EXISTS (SELECT 1 FROM {LEDGER_TABLE} am "
        "WHERE am.job_id = %s AND am.row_hash = cm.row_hash AND am.present = %s)"
    )
    order = " ORDER BY cm.row_hash LIMIT %s"
    yield from _pages(base + order, base + " AND cm.row_hash > %s" + order, [job.cohort_id, job.pk, True], page_rows)


def rows_to_remove(*, job: SyncJob, page_rows: int, plan: Plan | None = None) -> Iterator[list[tuple[int, str]]]:
    """Pages of (row_hash, row) present in the ledger and gone from the cohort."""
    if plan is not None and plan.remove_hashes is not None:
        yield from _rows_by_hash(LEDGER_TABLE, "job_id", job.pk, plan.remove_hashes, page_rows, True)
        return
    base = (
        f"SELECT am.row_hash, am.row FROM {LEDGER_TABLE} am WHERE am.job_id = %s AND am.present = %s "  # noqa: S608
        f"AND NOT EXISTS (SELECT 1 FROM {MEMBER_TABLE} cm WHERE cm.cohort_id = %s AND cm.row_hash = am.row_hash)"
    )
    order = " ORDER BY am.row_hash LIMIT %s"
    yield from _pages(base + order, base + " AND am.row_hash > %s" + order, [job.pk, True, job.cohort_id], page_rows)


def rows_of_cohort(*, job: SyncJob, page_rows: int, plan: Plan | None = None) -> Iterator[list[tuple[int, str]]]:
    """Pages of every (row_hash, row) of the cohort: what a full replace sends."""
    base = f"SELECT cm.row_hash, cm.row FROM {MEMBER_TABLE} cm WHERE cm.cohort_id = %s"  # noqa: S608
    order = " ORDER BY cm.row_hash LIMIT %s"
    yield from _pages(base + order, base + " AND cm.row_hash > %s" + order, [job.cohort_id], page_rows)

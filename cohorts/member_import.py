"""Members from a file to CohortMember rows: encode in chunks, then update incrementally.

Two stages, so the database is locked only while rows are written:
1. `members_encode` reads raw rows, encodes them 10,000 at a time with the project's key
   mapping and spools the encoded rows (row hash + row JSON) to a temporary file, counting
   rejected rows per reason. A broken file raises here, before the database is touched.
2. `members_apply`, inside the caller's transaction, compares the spool with the stored
   members and inserts what is new and deletes what is gone.

Memory stays flat whatever the cohort size: stored hashes are held in a sorted
`array('q')` (8 bytes each) plus one byte per member for "seen", never as a set of
Python objects.
"""

from __future__ import annotations

import tempfile
import time
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from django.db import connection

from cohorts.encoding import row_serialize
from cohorts.key_quality import KeyQualitySampler
from cohorts.member_files import MemberFileReader, RowChunk
from cohorts.models import CohortMember
from integrations.facebook.match_keys import encode_rows
from integrations.key_mappings import KeyPlan

ENCODE_CHUNK_ROWS = 10_000
INSERT_SORT_ROWS = 50_000  # new rows sorted together before inserting
INSERT_CHUNK_ROWS = 2_000
DELETE_CHUNK_ROWS = 500
REJECTED_SAMPLE_SIZE = 25


@dataclass
class EncodeReport:
    rows_read: int = 0
    rows_kept: int = 0
    rows_rejected: int = 0
    rejected_reasons: Counter = field(default_factory=Counter)
    rejected_sample: list[list] = field(default_factory=list)  # [line, reason]: never values
    warnings: list[str] = field(default_factory=list)
    key_quality: dict = field(default_factory=dict)
    read_seconds: float = 0.0
    encode_seconds: float = 0.0

    def reject(self, line: int, reason: str) -> None:
        self.rows_rejected += 1
        self.rejected_reasons[reason] += 1
        # Room for both the reader's and the encoder's rejects of one chunk; `sample_trim`
        # then keeps the first lines of the file.
        if len(self.rejected_sample) < 2 * REJECTED_SAMPLE_SIZE:
            self.rejected_sample.append([line, reason])

    def sample_trim(self) -> None:
        self.rejected_sample.sort()
        del self.rejected_sample[REJECTED_SAMPLE_SIZE:]


class MemberSpool:
    """Encoded rows on disk, one "hash<TAB>row JSON" line each (JSON escapes tabs and newlines)."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(mode="w+", encoding="utf-8", newline="\n")  # noqa: SIM115
        self.rows = 0

    def write_chunk(self, rows: list[list[str]]) -> None:
        lines = []
        for row in rows:
            text, row_hash = row_serialize(row)
            lines.append(f"{row_hash}\t{text}\n")
        self._file.write("".join(lines))
        self.rows += len(rows)

    def iter_rows(self) -> Iterator[tuple[int, str]]:
        self._file.flush()
        self._file.seek(0)
        for line in self._file:
            row_hash, text = line.rstrip("\n").split("\t", 1)
            yield int(row_hash), text

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> MemberSpool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def members_encode(reader: MemberFileReader, *, plan: KeyPlan) -> tuple[MemberSpool, EncodeReport]:
    """Stage 1: read, encode and spool every row; raises the reader's error on a broken file."""
    report = EncodeReport()
    sampler = KeyQualitySampler(plan)
    spool = MemberSpool()
    started = time.perf_counter()
    try:
        for chunk in reader.chunks(ENCODE_CHUNK_ROWS):
            report.rows_read += chunk.rows_read
            for line, reason in chunk.rejected:
                report.reject(line, reason)
            if chunk.values:
                _encode_chunk(chunk, plan, report, sampler, spool)
            report.sample_trim()
    except BaseException:
        spool.close()
        raise
    report.read_seconds = time.perf_counter() - started - report.encode_seconds
    report.warnings.extend(reader.warnings)
    report.key_quality = sampler.result()
    return spool, report


def _encode_chunk(
    chunk: RowChunk, plan: KeyPlan, report: EncodeReport, sampler: KeyQualitySampler, spool: MemberSpool
) -> None:
    started = time.perf_counter()
    encoded = encode_rows(plan.schema, chunk.values, default_country=plan.default_country)
    for index, reason in encoded.rejected:
        report.reject(chunk.lines[index], reason)
    report.rows_kept += len(encoded.rows)
    if not sampler.full:
        sampler.add(chunk.values, encoded)
    spool.write_chunk(encoded.rows)
    report.encode_seconds += time.perf_counter() - started


@dataclass(frozen=True)
class ApplyResult:
    added: int
    removed: int
    members: int


def members_apply(*, cohort_id: int, spool: MemberSpool) -> ApplyResult:
    """Stage 2 (call inside a transaction): make the stored members equal the spool.

    Rows whose hash is stored stay untouched; new rows are inserted (identical rows once);
    stored rows the spool does not have are deleted.
    """
    stored = cohort_member_hashes_sorted(cohort_id=cohort_id)
    seen = bytearray(len(stored))
    stored_count = len(stored)
    table = connection.ops.quote_name(CohortMember._meta.db_table)
    with connection.cursor() as cursor:
        fresh: dict[int, str] = {}
        for row_hash, text in spool.iter_rows():
            position = bisect_left(stored, row_hash)
            if position < stored_count and stored[position] == row_hash:
                seen[position] = 1
            elif row_hash not in fresh:
                fresh[row_hash] = text
                if len(fresh) >= INSERT_SORT_ROWS:
                    _insert_sorted(cursor, table, cohort_id, fresh)
                    fresh = {}
        _insert_sorted(cursor, table, cohort_id, fresh)
        removed = _delete_unseen(cursor, table, cohort_id, stored, seen)
    members = CohortMember.objects.filter(cohort_id=cohort_id).count()
    return ApplyResult(added=members - (stored_count - removed), removed=removed, members=members)


def _insert_sorted(cursor, table: str, cohort_id: int, fresh: dict[int, str]) -> None:
    """Insert in hash order: the unique index then grows in long runs instead of at random
    places (twice as fast on SQLite at a million rows). Identical rows met in an earlier
    chunk hit the unique (cohort, row_hash) constraint and are skipped."""
    ordered = sorted(fresh)
    for start in range(0, len(ordered), INSERT_CHUNK_ROWS):
        batch = ordered[start : start + INSERT_CHUNK_ROWS]
        hash_rows_insert(
            cursor,
            table=table,
            fixed=[("cohort_id", cohort_id)],
            rows=[(row_hash, fresh[row_hash]) for row_hash in batch],
            on_conflict="ON CONFLICT DO NOTHING",
        )


# Rows per INSERT statement on SQLite: two parameters each, far below its 32,766.
_SQLITE_VALUES_ROWS = 2_000


def hash_rows_insert(
    cursor, *, table: str, fixed: Sequence[tuple[str, Any]], rows: Sequence[tuple[int, str]], on_conflict: str
) -> None:
    """Insert (row_hash, row) pairs that share the values of the `fixed` columns.

    Shared by the cohort's members and the sync ledger, the two million-row tables. One
    statement per row (executemany) binds every value of every row from Python; here the
    fixed values are bound once per statement and the pairs travel as one VALUES list
    (SQLite, 2,000 rows a statement) or two arrays (PostgreSQL, one statement): about
    three times faster on SQLite at a million rows. `on_conflict` is the statement's
    ON CONFLICT clause. `table` must be quoted already; column names are ours.
    """
    if not rows:
        return
    quote = connection.ops.quote_name
    columns = ", ".join([*(quote(name) for name, _ in fixed), quote("row_hash"), quote("row")])
    # NULL in the text: a NULL parameter has no type PostgreSQL could insert.
    selected = [("NULL" if value is None else "%s") for _, value in fixed]
    constants = [value for _, value in fixed if value is not None]
    if connection.vendor == "postgresql":
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {', '.join([*selected, 'v.h', 'v.r'])} "  # noqa: S608
            f"FROM unnest(%s::bigint[], %s::text[]) AS v(h, r) {on_conflict}",
            [*constants, [row_hash for row_hash, _ in rows], [text for _, text in rows]],
        )
        return
    head = f"INSERT INTO {table} ({columns}) SELECT {', '.join([*selected, 'column1', 'column2'])} FROM (VALUES "  # noqa: S608
    # "WHERE true": SQLite would otherwise read ON CONFLICT as part of a join.
    tail = f") WHERE true {on_conflict}"
    for start in range(0, len(rows), _SQLITE_VALUES_ROWS):
        part = rows[start : start + _SQLITE_VALUES_ROWS]
        cursor.execute(
            head + ",".join(["(%s,%s)"] * len(part)) + tail,  # placeholders only
            [*constants, *chain.from_iterable(part)],
        )


def cohort_member_hashes_sorted(*, cohort_id: int) -> array:
    """The cohort's stored row hashes, ascending, 8 bytes each (the unique index is ordered)."""
    hashes = array("q")
    rows = (
        CohortMember.objects.filter(cohort_id=cohort_id)
        .order_by("row_hash")
        .values_list("row_hash", flat=True)
        .iterator(chunk_size=20_000)
    )
    hashes.extend(rows)
    return hashes


def _delete_unseen(cursor, table: str, cohort_id: int, stored: array, seen: bytearray) -> int:
    removed = 0
    batch: list[int] = []
    position = seen.find(0)
    while position != -1:
        batch.append(stored[position])
        if len(batch) >= DELETE_CHUNK_ROWS:
            removed += _delete_hashes(cursor, table, cohort_id, batch)
            batch = []
        position = seen.find(0, position + 1)
    if batch:
        removed += _delete_hashes(cursor, table, cohort_id, batch)
    return removed


def _delete_hashes(cursor, table: str, cohort_id: int, hashes: list[int]) -> int:
    placeholders = ", ".join(["%s"] * len(hashes))
    cursor.execute(
        f"DELETE FROM {table} WHERE cohort_id = %s AND row_hash IN ({placeholders})",  # noqa: S608 (placeholders only)
        [cohort_id, *hashes],
    )
    return len(hashes)

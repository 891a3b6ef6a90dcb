"""Members from a file to CohortMember rows: encode in chunks, then update incrementally.

Two stages, so the database is locked only while rows are written:
1. `members_encode` reads raw rows 10,000 at a time, encodes them with the project's key
   mapping and counts rejected rows per reason. Given the cohort, it first loads the
   cohort's stored row hashes: a row that encodes to a stored one is only marked as still
   there, and a row whose raw values the cohort's memo (`member_memo`) knows is not
   encoded at all. Only rows the cohort does not hold yet are spooled (row hash + row
   JSON) to a temporary file. A broken file raises here, before the database is touched.
2. `members_apply`, inside the caller's transaction, inserts the spooled rows and deletes
   the stored ones the file no longer has.

So a refresh where 1% of a million members changed encodes and writes about 1% of them.
Memory stays flat whatever the cohort size: stored hashes are held in a sorted
`array('q')` (8 bytes each) plus one byte per member for "seen", the memo in 16 bytes a
member, never as sets of Python objects.
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
from operator import itemgetter
from typing import Any

from django.db import connection

from cohorts.encoding import row_serialize
from cohorts.key_quality import KeyQualitySampler
from cohorts.member_files import MemberFileReader, RowChunk
from cohorts.member_memo import MemberMemo, SortedKeys, raw_digests
from cohorts.models import CohortMember
from integrations.facebook.match_keys import encode_rows
from integrations.key_mappings import KeyPlan

ENCODE_CHUNK_ROWS = 10_000
INSERT_SORT_ROWS = 50_000  # new rows sorted together before inserting
INSERT_CHUNK_ROWS = 2_000
DELETE_CHUNK_ROWS = 500
REJECTED_SAMPLE_SIZE = 25
_FETCH_ROWS = 50_000


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
    rows_encoded: int = 0  # the others were found in the memo

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


class StoredMembers:
    """A cohort's stored row hashes (sorted) and which of them the file being read still has."""

    def __init__(self, hashes: array) -> None:
        self.hashes = SortedKeys(hashes)
        self.seen = bytearray(len(hashes))

    @classmethod
    def of_cohort(cls, cohort_id: int) -> StoredMembers:
        return cls(cohort_member_hashes_sorted(cohort_id=cohort_id))

    def __len__(self) -> int:
        return len(self.hashes)

    def mark(self, row_hash: int) -> bool:
        """True (and marked as still there) when the cohort holds this row."""
        position = self.hashes.position(row_hash)
        if position < 0:
            return False
        self.seen[position] = 1
        return True

    def unseen(self) -> Iterator[int]:
        keys, seen = self.hashes.keys, self.seen
        position = seen.find(0)
        while position != -1:
            yield keys[position]
            position = seen.find(0, position + 1)


class MemberSpool:
    """Encoded rows on disk, one "hash<TAB>row JSON" line each (JSON escapes tabs and newlines).

    Built with a cohort's stored members (and memo), it holds only the rows to insert.
    """

    def __init__(self, *, stored: StoredMembers | None = None, memo: MemberMemo | None = None) -> None:
        self._file = tempfile.TemporaryFile(mode="w+", encoding="utf-8", newline="\n")  # noqa: SIM115
        self.rows = 0
        self.stored = stored
        self.memo = memo

    def write_chunk(self, rows: list[list[str]]) -> None:
        self.write_serialized([row_serialize(row)[::-1] for row in rows])

    def write_serialized(self, pairs: list[tuple[int, str]]) -> None:
        self._file.write("".join([f"{row_hash}\t{text}\n" for row_hash, text in pairs]))
        self.rows += len(pairs)

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


def members_encode(
    reader: MemberFileReader, *, plan: KeyPlan, cohort_id: int | None = None
) -> tuple[MemberSpool, EncodeReport]:
    """Stage 1: read and encode every row; raises the reader's error on a broken file.

    Without `cohort_id` every kept row is spooled; with it, only those the cohort lacks.
    """
    report = EncodeReport()
    sampler = KeyQualitySampler(plan)
    if cohort_id is None:
        spool = MemberSpool()
    else:
        memo = MemberMemo.load(cohort_id=cohort_id, fingerprint=plan.fingerprint)
        spool = MemberSpool(stored=StoredMembers.of_cohort(cohort_id), memo=memo if memo.enabled else None)
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
    if spool.memo is not None:
        # Now rather than after the members are stored: a memo entry is right whatever
        # happens to this refresh, and writing it here keeps the database unlocked.
        saving = time.perf_counter()
        spool.memo.save()
        report.encode_seconds += time.perf_counter() - saving
    report.read_seconds = time.perf_counter() - started - report.encode_seconds
    report.warnings.extend(reader.warnings)
    report.key_quality = sampler.result()
    return spool, report


def _encode_chunk(
    chunk: RowChunk, plan: KeyPlan, report: EncodeReport, sampler: KeyQualitySampler, spool: MemberSpool
) -> None:
    started = time.perf_counter()
    values, memo, stored = chunk.values, spool.memo, spool.stored
    digests = raw_digests(values, width=len(plan.columns)) if memo is not None else None
    todo = list(range(len(values)))
    if memo is not None and stored is not None and digests is not None and len(memo) and sampler.full:
        # (The first rows are always encoded: the key-quality sample needs them.)
        todo = _memo_misses(digests, memo, stored)
        report.rows_kept += len(values) - len(todo)
    batch = values if len(todo) == len(values) else [values[index] for index in todo]
    encoded = encode_rows(plan.schema, batch, default_country=plan.default_country)
    for index, reason in encoded.rejected:
        report.reject(chunk.lines[todo[index]], reason)
    report.rows_kept += len(encoded.rows)
    report.rows_encoded += len(batch)
    if not sampler.full:
        sampler.add(batch, encoded)
    pairs = [row_serialize(row)[::-1] for row in encoded.rows]
    if memo is not None and digests is not None:
        add = memo.add
        for (row_hash, _), index in zip(pairs, encoded.indices, strict=True):
            digest = digests[todo[index]]
            if digest is not None:
                add(digest, row_hash)
    if stored is not None and len(stored):
        mark = stored.mark
        pairs = [pair for pair in pairs if not mark(pair[0])]
    spool.write_serialized(pairs)
    report.encode_seconds += time.perf_counter() - started


def _memo_misses(digests: list[int | None], memo: MemberMemo, stored: StoredMembers) -> list[int]:
    """Rows to encode: those the memo does not know, or whose known row the cohort no longer holds.

    The hot loop of a refresh where little changed (once per member): both lookups of
    `SortedKeys.position` are written out, which halves its cost.
    """
    memo_keys, memo_starts, memo_shift = memo.index.keys, memo.index.starts, memo.index.shift
    row_hashes, kept = memo.row_hashes, memo.kept_marks
    keys, starts, shift, offset, seen = (
        stored.hashes.keys, stored.hashes.starts, stored.hashes.shift, stored.hashes.offset, stored.seen
    )
    misses: list[int] = []
    miss = misses.append
    for index, digest in enumerate(digests):
        if digest is not None:
            bucket = digest >> memo_shift
            end = memo_starts[bucket + 1]
            found = bisect_left(memo_keys, digest, memo_starts[bucket], end)
            if found < end and memo_keys[found] == digest:
                row_hash = row_hashes[found]
                bucket = (row_hash + offset) >> shift
                end = starts[bucket + 1]
                position = bisect_left(keys, row_hash, starts[bucket], end)
                if position < end and keys[position] == row_hash:
                    kept[found] = 1
                    seen[position] = 1
                    continue
        miss(index)
    return misses


@dataclass(frozen=True)
class ApplyResult:
    added: int
    removed: int
    members: int


def members_apply(*, cohort_id: int, spool: MemberSpool) -> ApplyResult:
    """Stage 2 (call inside a transaction): make the stored members equal the spool.

    Rows whose hash is stored stay untouched; new rows are inserted (identical rows once);
    stored rows the file does not have are deleted. A spool built for this cohort knows
    which stored rows the file still has; any other spool is compared here.
    """
    stored = spool.stored if spool.stored is not None else StoredMembers.of_cohort(cohort_id)
    stored_count = len(stored)
    table = connection.ops.quote_name(CohortMember._meta.db_table)
    mark = stored.mark if stored_count else None
    added = 0
    with connection.cursor() as cursor:
        fresh: dict[int, str] = {}
        for row_hash, text in spool.iter_rows():
            if mark is not None and mark(row_hash):
                continue
            if row_hash not in fresh:
                fresh[row_hash] = text
                if len(fresh) >= INSERT_SORT_ROWS:
                    added += _insert_sorted(cursor, table, cohort_id, fresh)
                    fresh = {}
        added += _insert_sorted(cursor, table, cohort_id, fresh)
        removed = _delete_unseen(cursor, table, cohort_id, stored)
    # Counted from the statements (rows really inserted and deleted), not with a COUNT over
    # a million rows (a second on PostgreSQL right after a bulk load).
    return ApplyResult(added=added, removed=removed, members=stored_count - removed + added)


# A refresh that adds at least this many rows, and at least a fifth of the cohort, refreshes the
# planner's statistics of the members table (PostgreSQL only; see planner_statistics_refresh).
STATISTICS_MIN_ADDED_ROWS = 10_000


def planner_statistics_refresh(*, applied: ApplyResult) -> bool:
    """ANALYZE the members table after a refresh that loaded many rows (PostgreSQL). True if done.

    PostgreSQL plans from statistics that autovacuum refreshes a minute or more after a bulk
    load, and a sync starts seconds after its refresh. Until then a new million-member cohort
    looks like a few thousand rows, and every 10,000-row page of its first sync
    (`cohort_id = %s AND row_hash > %s ORDER BY row_hash LIMIT 10000`) was read with a bitmap
    scan over all the remaining members and a sort: 250 ms a page instead of 5 with the index.
    The ANALYZE samples a bounded number of rows (about 0.2 s at a million).
    """
    if connection.vendor != "postgresql":
        return False
    if applied.added < STATISTICS_MIN_ADDED_ROWS or applied.added * 5 < applied.members:
        return False
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(CohortMember._meta.db_table)}")
    return True


def _insert_sorted(cursor, table: str, cohort_id: int, fresh: dict[int, str]) -> int:
    """Insert in hash order: the unique index then grows in long runs instead of at random
    places. Identical rows met in an earlier chunk hit the unique (cohort, row_hash)
    constraint and are skipped. Returns how many rows went in."""
    ordered = sorted(fresh)
    inserted = 0
    for start in range(0, len(ordered), INSERT_CHUNK_ROWS):
        batch = ordered[start : start + INSERT_CHUNK_ROWS]
        inserted += hash_rows_insert(
            cursor,
            table=table,
            fixed=[("cohort_id", cohort_id)],
            rows=[(row_hash, fresh[row_hash]) for row_hash in batch],
            on_conflict="ON CONFLICT DO NOTHING",
        )
    return inserted


def cohort_member_hashes_sorted(*, cohort_id: int) -> array:
    """The cohort's stored row hashes, ascending, 8 bytes each (the unique index is ordered)."""
    hashes = array("q")
    table = connection.ops.quote_name(CohortMember._meta.db_table)
    with connection.cursor() as cursor:
        # A raw cursor read in large pages: the ORM's iterator costs twice as much per row.
        cursor.execute(f"SELECT row_hash FROM {table} WHERE cohort_id = %s ORDER BY row_hash", [cohort_id])  # noqa: S608
        while rows := cursor.fetchmany(_FETCH_ROWS):
            hashes.extend(map(itemgetter(0), rows))
    return hashes


def _delete_unseen(cursor, table: str, cohort_id: int, stored: StoredMembers) -> int:
    removed = 0
    batch: list[int] = []
    for row_hash in stored.unseen():
        batch.append(row_hash)
        if len(batch) >= DELETE_CHUNK_ROWS:
            removed += _delete_hashes(cursor, table, cohort_id, batch)
            batch = []
    if batch:
        removed += _delete_hashes(cursor, table, cohort_id, batch)
    return removed


def _delete_hashes(cursor, table: str, cohort_id: int, hashes: list[int]) -> int:
    matches, params = row_hash_in(hashes)
    cursor.execute(f"DELETE FROM {table} WHERE cohort_id = %s AND {matches}", [cohort_id, *params])  # noqa: S608
    return cursor.rowcount


def row_hash_in(hashes: Sequence[int]) -> tuple[str, list[Any]]:
    """(SQL condition, its parameters): `row_hash` is one of `hashes` (a few thousand at most).

    PostgreSQL gets them as one comma-joined text, split by the server: Django's psycopg
    cursor quotes parameters into the statement one at a time, which costs 13 ms for 5,000
    placeholders or a 10,000-int list, and 5 ms for the one text (with the lookups).
    """
    if connection.vendor == "postgresql":
        return "row_hash = ANY(string_to_array(%s, ',')::bigint[])", [",".join(map(str, hashes))]
    return f"row_hash IN ({','.join(['%s'] * len(hashes))})", list(hashes)


# Rows per INSERT statement on SQLite: two parameters each, far below its 32,766.
_SQLITE_VALUES_ROWS = 2_000


def hash_rows_insert(
    cursor, *, table: str, fixed: Sequence[tuple[str, Any]], rows: Sequence[tuple[int, str]], on_conflict: str
) -> int:
    """Insert (row_hash, row) pairs that share the values of the `fixed` columns.

    Shared by the cohort's members and the sync ledger, the two million-row tables. One
    statement per row (executemany) binds every value of every row from Python; here the
    fixed values are bound once per statement and the pairs travel as one VALUES list
    (SQLite, 2,000 rows a statement) or two arrays (PostgreSQL, one statement): about
    three times faster on SQLite at a million rows. `on_conflict` is the statement's
    ON CONFLICT clause. `table` must be quoted already; column names are ours. Returns the
    rows the statements wrote (inserted, or updated by an upsert).
    """
    if not rows:
        return 0
    quote = connection.ops.quote_name
    columns = ", ".join([*(quote(name) for name, _ in fixed), quote("row_hash"), quote("row")])
    # NULL in the text: a NULL parameter has no type PostgreSQL could insert.
    selected = [("NULL" if value is None else "%s") for _, value in fixed]
    constants = [value for _, value in fixed if value is not None]
    if connection.vendor == "postgresql":
        # The pairs travel as two joined texts that the server splits: Django's psycopg cursor
        # quotes parameters into the statement, and a list of rows would be quoted element by
        # element with a regex (every row holds '"'): 140 ms a 10,000-row batch, against 2 ms
        # for one text. A row is compact JSON, which escapes line breaks: checked all the same.
        texts = "\n".join([text for _, text in rows])
        if texts.count("\n") != len(rows) - 1:
            raise ValueError("A row to insert holds a line break; rows are compact JSON")
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {', '.join([*selected, 'v.h', 'v.r'])} "  # noqa: S608
            "FROM unnest(string_to_array(%s, ',')::bigint[], string_to_array(%s, E'\\n')) AS v(h, r) "
            f"{on_conflict}",
            [*constants, ",".join([str(row_hash) for row_hash, _ in rows]), texts],
        )
        return cursor.rowcount
    head = f"INSERT INTO {table} ({columns}) SELECT {', '.join([*selected, 'column1', 'column2'])} FROM (VALUES "  # noqa: S608
    # "WHERE true": SQLite would otherwise read ON CONFLICT as part of a join.
    tail = f") WHERE true {on_conflict}"
    written = 0
    for start in range(0, len(rows), _SQLITE_VALUES_ROWS):
        part = rows[start : start + _SQLITE_VALUES_ROWS]
        cursor.execute(
            head + ",".join(["(%s,%s)"] * len(part)) + tail,  # placeholders only
            [*constants, *chain.from_iterable(part)],
        )
        written += cursor.rowcount
    return written


"""The upload log: accepted users / usersreplace calls, applied to the member table on read.

Meta answers an upload quickly and processes it later (matching "can take up to an hour";
"changes usually take up to 24 hours"). The sandbox does the same: an accepted call costs
one INSERT of its row keys (`log_append`), and whatever reads the members (audience sizes,
the membership digest) first applies the audience's pending calls (`members_settle`).
Applying many calls at once in sorted bulk statements costs a fraction of inserting each
call's 10,000 random keys into the unique index as it arrives (about 1 µs a row instead
of 6 at a million rows, on SQLite).

Every answer stays what applying each call at once gave: the entries are applied in the
order the calls were accepted, with the same operations. Add: insert, a row already held
is kept as it is. Remove: delete. Replace: the first batch of its session empties the
audience, each batch inserts its rows tagged with the session (re-tagging rows already
held), and the batch that ends the session drops every row the session did not send.
Consecutive entries are merged into one set of statements only when that gives the same
result (see `_runs`).
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import compress
from operator import not_
from typing import Any

from django.db import connection, transaction
from django.db.models import F

from integrations.sandbox.models import SandboxAudience, SandboxAudienceMember, SandboxUploadLog, SandboxUploadSession
from integrations.sandbox.rows import ParsedRows

Operation = SandboxUploadSession.Operation
_TABLE = SandboxAudienceMember._meta.db_table

# On SQLite, a larger page cache (applying to a million-row audience touches most pages of
# its unique index) and rarer WAL checkpoints (each one fsyncs; a call logs about 160 KB).
# Both settings last for this connection only.
_SQLITE_PRAGMAS = ("PRAGMA cache_size = -65536", "PRAGMA wal_autocheckpoint = 20000")


def sqlite_tune_for_bulk_writes() -> None:
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)


def _packed(keys: Iterator[int]) -> bytes:
    return array("q", sorted(keys)).tobytes()


def log_append(
    *,
    audience_pk: int,
    operation: str,
    parsed: ParsedRows,
    session_spec: dict[str, Any] | None,
    wipe_before: bool,
    finish_after: bool,
) -> None:
    """Log one call that passed every check (inside the caller's transaction)."""
    if not parsed.keys and not wipe_before and not finish_after:
        return  # nothing to apply: every row was an invalid entry
    SandboxUploadLog.objects.create(
        audience_id=audience_pk,
        operation=operation,
        session_id=session_spec["session_id"] if session_spec else None,
        batch_seq=session_spec["batch_seq"] if session_spec else None,
        wipe_before=wipe_before,
        finish_after=finish_after,
        population_size=parsed.population_size,
        matched_keys=_packed(compress(parsed.keys, parsed.matched)),
        unmatched_keys=_packed(compress(parsed.keys, map(not_, parsed.matched))),
    )


def members_pending(*, audience_pk: int) -> bool:
    return SandboxUploadLog.objects.filter(audience_id=audience_pk).exists()


@dataclass
class Counts:
    rows: int
    matched: int


def members_settle(*, audience_pk: int) -> int:
    """Apply the audience's pending calls, if any; the number of calls applied.

    Two readers at once apply them once: the first statement writes the audience row,
    which takes its row lock on PostgreSQL (and the database's write lock on SQLite), so
    the second waits for the first to commit and then finds the log empty.
    """
    if not members_pending(audience_pk=audience_pk):
        return 0
    sqlite_tune_for_bulk_writes()
    with transaction.atomic():
        SandboxAudience.objects.filter(pk=audience_pk).update(rows_held=F("rows_held"))
        held = SandboxAudience.objects.filter(pk=audience_pk).values_list("rows_held", "rows_matched").first()
        entries = list(SandboxUploadLog.objects.filter(audience_id=audience_pk).order_by("pk"))
        if held is None or not entries:
            return 0
        counts = Counts(rows=held[0], matched=held[1])
        for run in _runs(entries):
            _run_apply(audience_pk, run, counts)
        SandboxUploadLog.objects.filter(audience_id=audience_pk, pk__lte=entries[-1].pk).delete()
        SandboxAudience.objects.filter(pk=audience_pk).update(rows_held=counts.rows, rows_matched=counts.matched)
    return len(entries)


def _runs(entries: Sequence[SandboxUploadLog]) -> Iterator[list[SandboxUploadLog]]:
    """Consecutive entries that give the same result applied together as one by one.

    Adds commute with adds and removes with removes; the batches of one replace session
    commute with each other between its wipe (only ever at a run's start) and its end
    (only ever at a run's end). Within a run every entry was matched against the same
    population, so a row key has one match flag and merging cannot change which flag a
    row is stored with.
    """
    run: list[SandboxUploadLog] = []
    for entry in entries:
        if run:
            head = run[0]
            same = (
                entry.operation == head.operation
                and entry.population_size == head.population_size
                and (entry.operation != Operation.REPLACE or entry.session_id == head.session_id)
                and not entry.wipe_before
            )
            if not same:
                yield run
                run = []
        run.append(entry)
        if entry.finish_after:
            yield run
            run = []
    if run:
        yield run


def _keys(run: Sequence[SandboxUploadLog], field: str) -> list[int]:
    keys = array("q")
    for entry in run:
        keys.frombytes(bytes(getattr(entry, field)))
    # Each entry's keys are sorted: with one entry this is a copy, with many the sort
    # merges sorted stretches (far cheaper than sorting random keys).
    return keys.tolist() if len(run) == 1 else sorted(keys)


def _run_apply(audience_pk: int, run: list[SandboxUploadLog], counts: Counts) -> None:
    head, tail = run[0], run[-1]
    matched, unmatched = _keys(run, "matched_keys"), _keys(run, "unmatched_keys")
    if head.operation == Operation.REMOVE:
        rows, hits = _rows_delete(audience_pk, sorted(matched + unmatched))
        counts.rows -= rows
        counts.matched -= hits
        return
    tag = head.session_id if head.operation == Operation.REPLACE else None
    if head.wipe_before:
        SandboxAudienceMember.objects.filter(audience_id=audience_pk).delete()
        counts.rows = counts.matched = 0
    elif tag is not None:
        _rows_tag(audience_pk, sorted(matched + unmatched), tag)
    added_matched = _rows_insert(audience_pk, matched, matched=True, tag=tag)
    added_unmatched = _rows_insert(audience_pk, unmatched, matched=False, tag=tag)
    counts.rows += added_matched + added_unmatched
    counts.matched += added_matched
    if tail.finish_after:
        rows, hits = _rows_drop_other_sessions(audience_pk, tag)
        counts.rows -= rows
        counts.matched -= hits


# --- Bulk statements: a sorted key list as one parameter ----------------------------------------
# SQLite reads it as a JSON array (json_each: no limit on the number of parameters, and
# integers are exact over the whole 64-bit range); PostgreSQL as a bigint[] (unnest / ANY).


def _key_list(keys: list[int]) -> tuple[str, Any]:
    """(SQL yielding the keys as a column named `value`, its parameter)."""
    if connection.vendor == "postgresql":
        return "SELECT unnest(%s::bigint[]) AS value", keys
    return "SELECT value FROM json_each(%s)", json.dumps(keys)


def _rows_insert(audience_pk: int, keys: list[int], *, matched: bool, tag: int | None) -> int:
    """Insert the rows not held yet (a key already held is left as it is); how many were new."""
    if not keys:
        return 0
    source, param = _key_list(keys)
    # "WHERE true": SQLite would otherwise read ON CONFLICT as part of a join.
    sql = (
        f"INSERT INTO {_TABLE} (audience_id, replace_session_id, row_key, matched) "  # noqa: S608 - our table
        f"SELECT %s, CAST(%s AS bigint), k.value, %s FROM ({source}) AS k WHERE true "
        "ON CONFLICT (audience_id, row_key) DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [audience_pk, tag, matched, param])
        return cursor.rowcount


def _rows_tag(audience_pk: int, keys: list[int], tag: int) -> None:
    """Rows a replace session sends again belong to it (they survive its end)."""
    if not keys:
        return
    source, param = _key_list(keys)
    sql = f"UPDATE {_TABLE} SET replace_session_id = %s WHERE audience_id = %s AND row_key IN ({source})"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [tag, audience_pk, param])


def _deleted(sql: str, params: list[Any]) -> tuple[int, int]:
    """Run a DELETE … RETURNING matched: (rows deleted, of which matched)."""
    with connection.cursor() as cursor:
        cursor.execute(sql + " RETURNING matched", params)
        flags = [bool(row[0]) for row in cursor.fetchall()]
    return len(flags), sum(flags)


def _rows_delete(audience_pk: int, keys: list[int]) -> tuple[int, int]:
    if not keys:
        return 0, 0
    source, param = _key_list(keys)
    return _deleted(
        f"DELETE FROM {_TABLE} WHERE audience_id = %s AND row_key IN ({source})",  # noqa: S608
        [audience_pk, param],
    )


def _rows_drop_other_sessions(audience_pk: int, tag: int | None) -> tuple[int, int]:
    """A finished replace keeps only the rows its own session sent."""
    return _deleted(
        f"DELETE FROM {_TABLE} WHERE audience_id = %s AND (replace_session_id IS NULL OR replace_session_id <> %s)",  # noqa: S608
        [audience_pk, tag],
    )

"""The record of every batch, and the ledger moved forward with it.

Called in the run's own thread (upload threads only talk HTTP): the batch row exists
before its request leaves, and when Facebook confirms a batch, the batch's answer, the
ledger rows and the run's counters are written in one transaction. Nothing Facebook did
not confirm is ever recorded as in the audience.
"""

from __future__ import annotations

import time

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from syncs import ledger
from syncs.models import SyncBatch, SyncRun
from syncs.run_state import RunContext
from syncs.uploader import Batch, Outcome


def batch_record_sending(context: RunContext, operation: str, batch: Batch) -> int:
    started = time.monotonic()
    context.sequence += 1
    context.gate.flush()
    record = SyncBatch.objects.create(
        run=context.run,
        operation=operation,
        sequence=context.sequence,
        lane=batch.lane,
        session_id=batch.session_id,
        batch_seq=batch.batch_seq,
        last_batch=batch.last_of_lane,
        rows_sent=len(batch.rows),
        bytes_sent=sum(len(row) for _, row in batch.rows) + len(batch.rows) + 1,
        status=SyncBatch.Status.SENDING,
    )
    bookkeeping(context, started)
    return record.pk


def batch_record_outcome(context: RunContext, operation: str, outcome: Outcome) -> None:
    started = time.monotonic()
    batch, now = outcome.batch, timezone.now()
    duration_ms = int(outcome.duration * 1000)
    with transaction.atomic():
        if outcome.result is not None:
            result = outcome.result
            SyncBatch.objects.filter(pk=batch.record_id).update(
                status=SyncBatch.Status.CONFIRMED,
                num_received=result.num_received,
                num_invalid_entries=result.num_invalid_entries,
                invalid_entry_samples=samples_without_values(result.invalid_entry_samples),
                http_status=result.http_status,
                fbtrace_id=result.fbtrace_id or "",
                attempts=result.attempts,
                duration_ms=duration_ms,
                finished_at=now,
            )
            run_updates = {"batches_done": F("batches_done") + 1, "rows_invalid": F("rows_invalid") +
                           result.num_invalid_entries}
            if operation == "remove":
                ledger.ledger_rows_removed(
                    job_id=context.job.pk, batch_id=batch.record_id, row_hashes=[h for h, _ in batch.rows], at=now
                )
                run_updates["rows_removed"] = F("rows_removed") + len(batch.rows)
            else:
                if operation == "replace" and not context.replace_wiped:
                    # The session's first batch wiped the audience at Facebook.
                    ledger.ledger_all_removed(job_id=context.job.pk, batch_id=batch.record_id, at=now)
                    context.replace_wiped = True
                ledger.ledger_rows_added(
                    job_id=context.job.pk, batch_id=batch.record_id, rows=batch.rows, at=now,
                    new_rows=context.ledger_new and operation == "add",
                )
                run_updates["rows_added"] = F("rows_added") + len(batch.rows)
        else:
            error = outcome.error
            SyncBatch.objects.filter(pk=batch.record_id).update(
                status=SyncBatch.Status.FAILED,
                http_status=error.http_status,
                fbtrace_id=error.fbtrace_id or "",
                attempts=error.attempts,
                duration_ms=duration_ms,
                error_code=error.kind,
                error_message=str(error)[:2000],
                error_fix=("Split in two and sent again." if error.kind == "payload_too_large" else error.fix),
                finished_at=now,
            )
            run_updates = {}
        SyncRun.objects.filter(pk=context.run.pk).update(
            heartbeat_at=now, graph_calls=context.graph_calls(), **run_updates
        )
    context.gate.flush()
    bookkeeping(context, started)


def samples_without_values(samples: dict) -> dict:
    """Facebook's invalid-entry samples can echo what we sent: keep the reasons and counts only."""
    cleaned: dict = {}
    for key, value in list(samples.items())[:20]:
        if isinstance(value, (int, float)):
            cleaned[str(key)[:100]] = value
        elif isinstance(value, list):
            cleaned[str(key)[:100]] = len(value)
        else:
            cleaned[str(key)[:100]] = "sample withheld"
    return cleaned


def bookkeeping(context: RunContext, started: float) -> None:
    context.stage_seconds["bookkeeping"] = round(
        context.stage_seconds.get("bookkeeping", 0.0) + time.monotonic() - started, 3
    )

"""What a run carries while it executes, how it stops early, and what it reports."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.utils import timezone

from integrations.facebook.client import GraphClient
from syncs.leases import Heartbeat
from syncs.models import SyncJob, SyncRun
from syncs.throttle import SharedThrottleGate

# A RunStop with this job status leaves the job's status as another service set it (a hold).
KEEP_JOB_STATUS = "keep"


class RunStop(Exception):
    """Ends a run early with a status, a reason and the fix a person should apply."""

    def __init__(self, status: str, message: str, *, code: str = "", fix: str = "", job_status: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.fix = fix
        self.job_status = job_status


@dataclass
class RunReport:
    run_id: int | None
    status: str
    audience_id: str = ""
    rows_added: int = 0
    rows_removed: int = 0
    rows_unchanged: int = 0
    rows_skipped: int = 0
    batches: int = 0
    graph_calls: int = 0
    message: str = ""
    fix: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status in {SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL}

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "audience_id": self.audience_id,
            "rows_added": self.rows_added,
            "rows_removed": self.rows_removed,
            "rows_unchanged": self.rows_unchanged,
            "rows_skipped": self.rows_skipped,
            "batches": self.batches,
            "graph_calls": self.graph_calls,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass
class RunContext:
    run: SyncRun
    job: SyncJob
    clients: list[GraphClient] = field(default_factory=list)
    gate: SharedThrottleGate = field(default_factory=SharedThrottleGate)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    sequence: int = 0
    replace_wiped: bool = False
    heartbeat_thread: Heartbeat | None = None
    # False when the ledger's rows were encoded with another key mapping (their schema differs).
    ledger_schema_current: bool = True
    # The job's ledger was empty when the run planned: its additions cannot already be there.
    ledger_new: bool = False

    @property
    def taken_over(self) -> bool:
        return self.heartbeat_thread is not None and self.heartbeat_thread.lost

    @property
    def client(self) -> GraphClient:
        return self.clients[0]

    @contextmanager
    def stage(self, name: str):
        # Written at once, so the job page can say what a long run is doing.
        SyncRun.objects.filter(pk=self.run.pk).update(stage=name, heartbeat_at=timezone.now())
        started = time.monotonic()
        try:
            yield
        finally:
            self.stage_seconds[name] = round(self.stage_seconds.get(name, 0.0) + time.monotonic() - started, 3)

    def graph_calls(self) -> int:
        return sum(client.calls_made for client in self.clients)

    def heartbeat(self, **fields) -> None:
        SyncRun.objects.filter(pk=self.run.pk).update(heartbeat_at=timezone.now(), **fields)

"""Reads for the admin pages: a run's progress, a job's history and charts, who is in an audience.

Every function here answers in a fixed number of queries, each bounded by an index and a
LIMIT, whatever the size of the ledger (1,000,000 members) or of the batch log (100,000
batches) behind it. Nothing here writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection
from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime

from integrations.facebook import match_keys
from integrations.key_mappings import project_schema
from syncs.models import SyncBatch, SyncJob, SyncRun

MATCHING_DELAY_NOTE = (
    "Facebook takes up to an hour to match added people and up to a day to process removals, "
    "so sizes lag behind the runs."
)
BELOW_THRESHOLD = 1000  # Facebook shows no size for smaller audiences
RUNS_PER_PAGE = 20
CHART_RUNS = 60
LOOKUP_MAX_ROWS = 20

FINISHED_RUN_STATUSES = frozenset(s for s in SyncRun.Status.values if s != SyncRun.Status.RUNNING)
SUCCESSFUL_RUN_STATUSES = frozenset({SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL})


def audience_size_label(lower: int | None, upper: int | None) -> str:
    """Facebook's size range in words: 'below 1,000' when Facebook will not say more."""
    if lower is None or upper is None or upper < 0:
        return "unknown"
    if upper <= BELOW_THRESHOLD:
        return "below 1,000"
    return f"{lower:,} - {upper:,}"


# --- the current run's progress -------------------------------------------------------------------

_PROGRESS_FIELDS = (
    "id", "job_id", "status", "started_at", "finished_at", "heartbeat_at", "mode_used", "rows_to_add",
    "rows_to_remove", "rows_added", "rows_removed", "rows_unchanged", "batches_planned", "batches_done",
    "error_message", "error_fix", "notices",
)


@dataclass(frozen=True)
class RunProgress:
    """How far a run got, as the job page's progress bar shows it."""

    run_id: int
    status: str
    status_label: str
    running: bool
    phase: str
    batches_done: int
    batches_planned: int
    rows_done: int
    rows_total: int | None  # None until the run has compared the cohort with the audience
    started_at: datetime
    finished_at: datetime | None
    heartbeat_at: datetime
    error_message: str
    error_fix: str
    notices: list[str] = field(default_factory=list)

    @property
    def percent(self) -> int | None:
        if self.status in SUCCESSFUL_RUN_STATUSES:
            return 100
        if self.rows_total is None:
            return None
        if self.rows_total == 0:
            return 0 if self.running else 100
        share = min(self.rows_done, self.rows_total) * 100 // self.rows_total
        # A running run is not done until Facebook confirmed its last batch and its size was read.
        return min(share, 99) if self.running else share

    @property
    def summary(self) -> str:
        parts = [f"{self.batches_done:,} of {self.batches_planned:,} batches"]
        if self.rows_total is not None:
            parts.append(f"{self.rows_done:,} of {self.rows_total:,} rows")
        return ", ".join(parts)

    def as_json(self) -> dict:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "status_label": self.status_label,
            "running": self.running,
            "phase": self.phase,
            "percent": self.percent,
            "summary": self.summary,
            "batches_done": self.batches_done,
            "batches_planned": self.batches_planned,
            "rows_done": self.rows_done,
            "rows_total": self.rows_total,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "heartbeat_at": self.heartbeat_at.isoformat(),
            "error_message": self.error_message,
            "error_fix": self.error_fix,
            "notices": list(self.notices),
        }


STAGE_PHASES = {
    "check": "Checking the Facebook connection",
    "download": "Downloading and encoding the cohort's members",
    "audience": "Making sure the audience exists",
    "compare": "Comparing the cohort with the audience",
    "finish": "Reading the audience's size",
}


def _run_phase(run: SyncRun) -> str:
    if run.status != SyncRun.Status.RUNNING:
        return run.get_status_display()
    if run.stage in STAGE_PHASES:
        return STAGE_PHASES[run.stage]
    if not run.mode_used:
        return "Preparing: checking the connection, refreshing the cohort, comparing it with the audience"
    if run.mode_used == "replace":
        return "Replacing the audience"
    return "Sending removals and additions"


def run_progress(run: SyncRun) -> RunProgress:
    compared = bool(run.mode_used) or run.status != SyncRun.Status.RUNNING
    if run.mode_used == "replace":
        total = run.rows_to_add + run.rows_unchanged  # a replace sends the whole cohort
    else:
        total = run.rows_to_add + run.rows_to_remove
    return RunProgress(
        run_id=run.pk,
        status=run.status,
        status_label=run.get_status_display(),
        running=run.status == SyncRun.Status.RUNNING,
        phase=_run_phase(run),
        batches_done=run.batches_done,
        batches_planned=run.batches_planned,
        rows_done=run.rows_added + run.rows_removed,
        rows_total=total if compared else None,
        started_at=run.started_at,
        finished_at=run.finished_at,
        heartbeat_at=run.heartbeat_at,
        error_message=run.error_message,
        error_fix=run.error_fix,
        notices=list(run.notices or []),
    )


def job_latest_run(*, job_id: int) -> SyncRun | None:
    """The running run if there is one, else the newest (one query on the (job, started_at) index)."""
    return SyncRun.objects.filter(job_id=job_id).only(*_PROGRESS_FIELDS).order_by("-started_at", "-id").first()


def job_progress(*, job_id: int) -> RunProgress | None:
    run = job_latest_run(job_id=job_id)
    return run_progress(run) if run is not None else None


# --- history ---------------------------------------------------------------------------------------

_HISTORY_FIELDS = (
    "id", "job_id", "status", "trigger", "started_at", "finished_at", "mode_used", "rows_added", "rows_removed",
    "rows_unchanged", "rows_skipped", "rows_invalid", "batches_done", "batches_planned", "graph_calls",
    "audience_lower_bound", "audience_upper_bound", "error_message", "error_fix", "notices",
)


@dataclass(frozen=True)
class RunsPage:
    runs: list[SyncRun]
    older_cursor: int | None  # pass as `before` to get the next (older) page; None on the last page
    is_first: bool


def job_runs_page(*, job_id: int, before: int | None = None, per_page: int = RUNS_PER_PAGE) -> RunsPage:
    """A page of the job's runs, newest first, by keyset on (started_at, id): no COUNT, no OFFSET."""
    runs: QuerySet[SyncRun] = SyncRun.objects.filter(job_id=job_id).only(*_HISTORY_FIELDS)
    if before is not None:
        cursor = SyncRun.objects.filter(job_id=job_id, pk=before).values_list("started_at", flat=True).first()
        if cursor is not None:
            runs = runs.filter(started_at__lte=cursor).exclude(started_at=cursor, pk__gte=before)
    rows = list(runs.order_by("-started_at", "-id")[: per_page + 1])
    older = rows[per_page - 1].pk if len(rows) > per_page else None
    return RunsPage(runs=rows[:per_page], older_cursor=older, is_first=before is None)


# --- charts ------------------------------------------------------------------------------------------

CHART_WIDTH = 640
CHART_HEIGHT = 180
CHART_LEFT = 64  # room for the axis labels
CHART_RIGHT = 8
CHART_TOP = 10
CHART_BOTTOM = 24


@dataclass(frozen=True)
class ChartTick:
    y: float
    label: str


@dataclass(frozen=True)
class SizeBar:
    """One run's audience size range: a bar from the lower to the upper bound."""

    x: float
    width: float
    y: float  # the upper bound's height on the chart
    height: float  # down to the lower bound (at least a visible sliver)
    label: str  # the tooltip
    below_threshold: bool


@dataclass(frozen=True)
class ChangeBar:
    """One run's additions (up from the zero line) and removals (down)."""

    x: float
    width: float
    added_y: float
    added_height: float
    removed_y: float
    removed_height: float
    label: str


@dataclass(frozen=True)
class JobCharts:
    width: int
    height: int
    plot_left: int
    plot_right: int
    size_bars: list[SizeBar]
    size_ticks: list[ChartTick]
    threshold_y: float | None  # where 1,000 sits on the size chart, when it is in range
    change_bars: list[ChangeBar]
    change_ticks: list[ChartTick]
    zero_y: float
    first_label: str
    last_label: str

    @property
    def has_sizes(self) -> bool:
        return bool(self.size_bars)

    @property
    def has_changes(self) -> bool:
        return bool(self.change_bars)


def _nice_ceiling(value: float) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (an axis maximum)."""
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def _compact(number: float) -> str:
    number = int(number)
    if abs(number) >= 1_000_000:
        return f"{number / 1_000_000:g}M"
    if abs(number) >= 1000:
        return f"{number / 1000:g}k"
    return str(number)


def job_chart_runs(*, job_id: int, limit: int = CHART_RUNS) -> list[SyncRun]:
    """The newest finished runs, oldest first (one query on the (job, started_at) index)."""
    runs = (
        SyncRun.objects.filter(job_id=job_id, status__in=FINISHED_RUN_STATUSES)
        .only("id", "status", "started_at", "rows_added", "rows_removed", "audience_lower_bound",
              "audience_upper_bound")
        .order_by("-started_at", "-id")[:limit]
    )
    return list(reversed(runs))


def job_charts(*, job_id: int, limit: int = CHART_RUNS) -> JobCharts:
    return charts_build(job_chart_runs(job_id=job_id, limit=limit))


def charts_build(runs: list[SyncRun]) -> JobCharts:
    """Bars in SVG coordinates: run i of n takes the i-th slot of the plot's width."""
    plot_width = CHART_WIDTH - CHART_LEFT - CHART_RIGHT
    plot_height = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    bottom = CHART_TOP + plot_height
    slot = plot_width / max(len(runs), 1)
    bar = max(min(slot * 0.7, 24.0), 1.0)

    def x_of(index: int) -> float:
        return round(CHART_LEFT + index * slot + (slot - bar) / 2, 1)

    sized = [(i, r) for i, r in enumerate(runs) if r.audience_upper_bound is not None and r.audience_upper_bound >= 0]
    size_max = _nice_ceiling(max((r.audience_upper_bound for _, r in sized), default=0) or 1)

    def y_size(value: float) -> float:
        return round(bottom - plot_height * max(value, 0) / size_max, 1)

    size_bars = []
    for i, run in sized:
        lower, upper = max(run.audience_lower_bound or 0, 0), run.audience_upper_bound
        top, base = y_size(upper), y_size(lower)
        size_bars.append(SizeBar(
            x=x_of(i), width=round(bar, 1), y=top, height=round(max(base - top, 1.5), 1),
            label=f"Run #{run.pk} {run.started_at:%Y-%m-%d %H:%M}: {audience_size_label(lower, upper)}",
            below_threshold=upper <= BELOW_THRESHOLD,
        ))
    size_ticks = [ChartTick(y_size(size_max * k / 4), _compact(size_max * k / 4)) for k in range(5)]
    threshold_y = y_size(BELOW_THRESHOLD) if sized and size_max >= BELOW_THRESHOLD else None

    # Additions above the zero line, removals below it, on one scale.
    change_max = _nice_ceiling(max([max(r.rows_added, r.rows_removed) for r in runs] or [0]) or 1)
    half = plot_height / 2
    zero = CHART_TOP + half

    def height_of(value: int) -> float:
        return round(half * value / change_max, 1)

    change_bars = []
    for i, run in enumerate(runs):
        up, down = height_of(run.rows_added), height_of(run.rows_removed)
        change_bars.append(ChangeBar(
            x=x_of(i), width=round(bar, 1), added_y=round(zero - up, 1), added_height=up,
            removed_y=zero, removed_height=down,
            label=f"Run #{run.pk} {run.started_at:%Y-%m-%d %H:%M}: +{run.rows_added:,} / -{run.rows_removed:,}",
        ))
    change_ticks = [
        ChartTick(round(zero - half, 1), f"+{_compact(change_max)}"),
        ChartTick(zero, "0"),
        ChartTick(round(zero + half, 1), f"-{_compact(change_max)}"),
    ]
    return JobCharts(
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        plot_left=CHART_LEFT,
        plot_right=CHART_WIDTH - CHART_RIGHT,
        size_bars=size_bars,
        size_ticks=size_ticks,
        threshold_y=threshold_y,
        change_bars=change_bars,
        change_ticks=change_ticks,
        zero_y=zero,
        first_label=f"{runs[0].started_at:%Y-%m-%d}" if runs else "",
        last_label=f"{runs[-1].started_at:%Y-%m-%d}" if runs else "",
    )


# --- who is in the audience ----------------------------------------------------------------------------

LOOKUP_KEYS = {"EMAIL": "email address", "PHONE": "phone number"}


@dataclass(frozen=True)
class LedgerEntry:
    present: bool
    added_at: datetime | None
    added_batch: SyncBatch | None
    removed_at: datetime | None
    removed_batch: SyncBatch | None


@dataclass(frozen=True)
class MemberLookup:
    """The answer to "is this person in the audience?"; never holds the value that was typed."""

    key: str
    usable: bool  # the value could be encoded (a well-formed email or phone number)
    key_mapped: bool  # the project currently sends this key to Facebook
    entries: list[LedgerEntry]  # newest first
    seconds: float

    @property
    def key_words(self) -> str:
        return LOOKUP_KEYS[self.key]

    @property
    def current(self) -> LedgerEntry | None:
        return next((entry for entry in self.entries if entry.present), None)

    @property
    def last_removed(self) -> LedgerEntry | None:
        removed = [entry for entry in self.entries if not entry.present and entry.removed_at]
        return max(removed, key=lambda entry: entry.removed_at, default=None)


def _ledger_rows_containing(job_id: int, needle: str) -> list[tuple]:
    """Ledger rows of one job whose uploaded row holds `needle` (a complete JSON string).

    A scan of the job's rows with the database's substring search: a few tenths of a second
    per 1,000,000 rows on SQLite and PostgreSQL. Expression indexes on the row's positions
    made it instant but doubled to quadrupled the cost of every batch the engine writes to
    the ledger, the path a sync of millions of rows spends its time on (figures in
    tests/admin_ui/test_large_data.py).
    """
    # SQLite's GLOB compares bytes (about twice as fast as its character-aware instr); the
    # needle is hex digits between quotes, so it holds none of GLOB's wildcards.
    search = "strpos(row, %s) > 0" if connection.vendor == "postgresql" else "row GLOB '*' || %s || '*'"
    sql = (
        "SELECT present, added_at, added_batch_id, removed_at, removed_batch_id "  # noqa: S608 - fixed SQL
        f"FROM syncs_audiencemember WHERE job_id = %s AND {search} ORDER BY id DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [job_id, needle, LOOKUP_MAX_ROWS])
        return cursor.fetchall()


def _as_datetime(value) -> datetime | None:
    """Raw SQL on SQLite gives naive UTC datetimes (or text): make them aware as the ORM would."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = parse_datetime(str(value))
        if value is None:
            return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def audience_member_lookup(*, job: SyncJob, key: str, raw_value: str) -> MemberLookup:
    """Encode the typed email or phone number in memory and look for it in the job's ledger.

    The value and its digest live only in this call's locals: they are not returned,
    stored, logged or put in an audit entry.
    """
    if key not in LOOKUP_KEYS:
        raise ValueError(f"Members can be looked up by {', '.join(LOOKUP_KEYS)} only.")
    started = time.perf_counter()
    project = job.cohort.project
    key_mapped = key in project_schema(project)
    encoded = match_keys.encode(key, raw_value, default_country=project.default_country or None)
    if not encoded:
        return MemberLookup(key=key, usable=False, key_mapped=key_mapped, entries=[], seconds=0.0)
    rows = _ledger_rows_containing(job.pk, f'"{encoded}"')
    del encoded
    batch_ids = {batch_id for row in rows for batch_id in (row[2], row[4]) if batch_id}
    batches = SyncBatch.objects.in_bulk(batch_ids) if batch_ids else {}
    entries = [
        LedgerEntry(
            present=bool(present),
            added_at=_as_datetime(added_at),
            added_batch=batches.get(added_batch_id),
            removed_at=_as_datetime(removed_at),
            removed_batch=batches.get(removed_batch_id),
        )
        for present, added_at, added_batch_id, removed_at, removed_batch_id in rows
    ]
    return MemberLookup(
        key=key, usable=True, key_mapped=key_mapped, entries=entries, seconds=time.perf_counter() - started
    )

"""Importing Facebook ad spend: queue imports, run one, upsert its rows, record how it went.

An import covers one ad account (a FacebookConnection) and a range of days. The daily
one covers yesterday and the `conf.trailing_days()` before it, because Meta revises
recent days; a backfill covers any range a person picks (async report run when long).
Rows are upserted on (project, ad account, day, campaign, ad set, ad): a rerun inserts
nothing twice and updates a revised day in place, and the record counts inserted,
updated and unchanged rows. Every outcome, failures included, is written on the
`AdInsightImport` record with a fix a person can act on; nothing is raised at the admin.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db import connection as db_connection
from django.http import HttpRequest
from django.utils import timezone

from integrations.admetrics import conf, fetch
from integrations.admetrics.models import AdDailyMetric, AdInsightImport, AdSetAudience
from integrations.admetrics.problems import (
    ConnectionUnusable,
    ImportProblem,
    Problem,
    ScopeMissing,
    problem_from_error,
)
from integrations.admetrics.rows import InsightRow, Key, insight_row_parse
from integrations.admetrics.throttle import InsightsThrottleGate
from integrations.audit import audit_record
from integrations.facebook.client import GraphClient
from integrations.facebook.errors import GraphError
from integrations.facebook.retry import RetryPolicy
from integrations.models import FacebookConnection, Project
from syncs.throttle import SharedThrottleGate

logger = logging.getLogger(__name__)

Status = AdInsightImport.Status
IMPORT_TASK = "integrations.admetrics.tasks.insights_import_task"
BACKFILL_REQUESTED = "admetrics.backfill_requested"
READ_SCOPE = "ads_read"
UPSERT_CHUNK = 1000  # rows per transaction
ID_CHUNK = 500  # ids per IN (...) list
COMPARED_FIELDS = (
    "campaign_name",
    "adset_name",
    "ad_name",
    "currency",
    "spend",
    "impressions",
    "clicks",
    "reach",
    "actions",
)


class BackfillRefused(Exception):
    """The range asked for cannot be imported; the message says why, for the form."""


# --- Ranges -------------------------------------------------------------------------------------------


def project_today(*, project: Project, ad_account_timezone: str = "") -> date:
    """Today in the ad account's time zone (Facebook's days), else the project's, else UTC."""
    for name in (ad_account_timezone, project.time_zone, "UTC"):
        try:
            zone = zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            continue
        return timezone.now().astimezone(zone).date()
    return timezone.now().date()


def daily_range(*, today: date) -> tuple[date, date]:
    """Yesterday plus the trailing window before it (Meta revises recent days)."""
    yesterday = today - timedelta(days=1)
    return yesterday - timedelta(days=conf.trailing_days()), yesterday


def backfill_range_check(*, since: date, until: date, today: date) -> None:
    if since > until:
        raise BackfillRefused("The first day must not be after the last day.")
    if until > today:
        raise BackfillRefused(f"The last day cannot be after today ({today}).")
    oldest = today - timedelta(days=conf.HISTORY_DAYS)
    if since < oldest:
        raise BackfillRefused(f"Facebook keeps 37 months of reports: start on {oldest} or later.")


# --- Queueing -----------------------------------------------------------------------------------------


def _enqueue(record: AdInsightImport) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task(IMPORT_TASK, record.pk, task_name=f"ad-spend-import-{record.pk}", group="admetrics")
    )


def insights_import_queue(
    *, connection: FacebookConnection, kind: str, since: date, until: date, user=None
) -> AdInsightImport:
    record = AdInsightImport.objects.create(
        project_id=connection.project_id,
        connection=connection,
        ad_account_id=connection.ad_account_id,
        ad_account_name=connection.ad_account_name,
        kind=kind,
        since=since,
        until=until,
        requested_by=user if user is not None and user.is_authenticated else None,
    )
    _enqueue(record)
    return record


def connections_to_import() -> Iterable[FacebookConnection]:
    """Every connection with an ad account that was not disconnected (scopes are checked per import)."""
    return (
        FacebookConnection.objects.exclude(status=FacebookConnection.Status.DISCONNECTED)
        .exclude(ad_account_id="")
        .select_related("project")
        .order_by("pk")
    )


def insights_imports_daily_queue(*, today: date | None = None) -> list[AdInsightImport]:
    """The daily schedule: one import per connected ad account, each its own task."""
    queued = []
    for connection in connections_to_import():
        since, until = daily_range(
            today=today
            or project_today(project=connection.project, ad_account_timezone=connection.ad_account_timezone)
        )
        queued.append(
            insights_import_queue(connection=connection, kind=AdInsightImport.Kind.DAILY, since=since, until=until)
        )
    return queued


def insights_backfill_request(
    *, connection: FacebookConnection, since: date, until: date, user, request: HttpRequest | None = None
) -> AdInsightImport:
    """A person's backfill of a range (checked here; roles are checked by the admin)."""
    backfill_range_check(
        since=since,
        until=until,
        today=project_today(project=connection.project, ad_account_timezone=connection.ad_account_timezone),
    )
    with transaction.atomic():
        record = insights_import_queue(
            connection=connection, kind=AdInsightImport.Kind.BACKFILL, since=since, until=until, user=user
        )
        audit_record(
            action=BACKFILL_REQUESTED,
            actor=user,
            request=request,
            project=connection.project,
            target=connection,
            changes={"since": since.isoformat(), "until": until.isoformat(), "import": record.pk},
        )
    return record


# --- Running one import -----------------------------------------------------------------------------------


def _retry_policy() -> RetryPolicy:
    # The same bounds as the sync engine: one place decides how long Graph calls may take.
    return RetryPolicy(
        max_attempts=settings.GRAPH_RETRY_MAX_ATTEMPTS,
        base_delay=settings.GRAPH_RETRY_BASE_DELAY,
        max_total_seconds=settings.GRAPH_RETRY_MAX_SECONDS,
        max_throttle_wait=settings.GRAPH_MAX_THROTTLE_WAIT,
        unknown_throttle_wait=settings.GRAPH_UNKNOWN_THROTTLE_WAIT,
    )


def graph_client_for_import(*, connection: FacebookConnection) -> GraphClient:
    """A client whose throttle waits are shared, through the database, with every import of the ad account."""
    gate = InsightsThrottleGate(max_wait=settings.GRAPH_MAX_THROTTLE_WAIT)
    gate.load(connection.ad_account_id)
    return GraphClient.from_settings(
        connection.access_token,
        ad_account_id=connection.ad_account_id,
        throttle_gate=gate,
        retry_policy=_retry_policy(),
    )


def _claim(import_id: int) -> AdInsightImport | None:
    """Queued -> running, once: a task delivered twice runs the import once."""
    now = timezone.now()
    if not AdInsightImport.objects.filter(pk=import_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now
    ):
        return None
    return AdInsightImport.objects.select_related("connection", "project").get(pk=import_id)


def _overlapping_import(record: AdInsightImport) -> AdInsightImport | None:
    """An older import of the same ad account still running (one at a time per account)."""
    lease_start = timezone.now() - timedelta(seconds=conf.running_lease_seconds())
    running = AdInsightImport.objects.filter(
        project_id=record.project_id, ad_account_id=record.ad_account_id, status=Status.RUNNING
    ).exclude(pk=record.pk)
    # A worker that died leaves its import "running": past the lease it no longer blocks.
    running.filter(started_at__lt=lease_start).update(
        status=Status.FAILED,
        finished_at=timezone.now(),
        error_kind="interrupted",
        error_message="The worker running this import stopped before it finished.",
        error_fix="Nothing to do: the rows written are kept, and the next import reads these days again.",
    )
    return running.filter(started_at__gte=lease_start, pk__lt=record.pk).order_by("pk").first()


def _usable_connection(record: AdInsightImport) -> FacebookConnection:
    connection = record.connection
    if connection is None or connection.status == FacebookConnection.Status.DISCONNECTED:
        raise ConnectionUnusable("This ad account is no longer connected.")
    if not connection.access_token or not connection.ad_account_id:
        raise ConnectionUnusable("The connection has no token or no ad account chosen.")
    # An empty list means "not checked yet": let Facebook answer instead of guessing.
    if connection.granted_scopes and READ_SCOPE not in connection.granted_scopes:
        raise ScopeMissing(
            f"The Facebook connection was made without the {READ_SCOPE} permission, "
            "which reading ad spend needs (granted: " + ", ".join(sorted(connection.granted_scopes)) + ")."
        )
    return connection


def insights_import_execute(*, import_id: int, client: GraphClient | None = None) -> AdInsightImport:
    """Run one queued import to its end and record the outcome (never raises a Graph error)."""
    record = _claim(import_id)
    if record is None:
        return AdInsightImport.objects.get(pk=import_id)
    busy = _overlapping_import(record)
    if busy is not None:
        return _finish(
            record,
            Status.SKIPPED,
            problem=Problem(
                "overlap",
                f"Import {busy.pk} of this ad account was still running (started {busy.started_at:%Y-%m-%d %H:%M}).",
                "Nothing to do for a daily import (the next one covers these days); start a backfill again later.",
            ),
        )
    own_client = client is None
    try:
        connection = _usable_connection(record)
        client = client or graph_client_for_import(connection=connection)
        _import(record, client, connection)
    except (ImportProblem, GraphError) as error:
        return _finish(record, Status.FAILED, client=client, problem=problem_from_error(error))
    except Exception as error:
        _finish(
            record,
            Status.FAILED,
            client=client,
            problem=Problem("internal_error", f"{type(error).__name__} while importing.", "Report it with the id."),
        )
        raise
    finally:
        if client is not None:
            gate = client.throttle_gate
            if isinstance(gate, SharedThrottleGate):
                gate.flush()
            if own_client:
                client.close()
    return _finish(record, Status.SUCCEEDED, client=client)


def _import(record: AdInsightImport, client: GraphClient, connection: FacebookConnection) -> None:
    record.ad_sets_read = ad_set_audiences_refresh(record=record, client=client)
    method = fetch.read_method_for(since=record.since, until=record.until)
    record.method = method
    record.save(update_fields=["ad_sets_read", "method"])
    if method == fetch.REPORT_RUN:

        def remember(report_run_id: str) -> None:
            record.report_run_id = report_run_id
            record.save(update_fields=["report_run_id"])

        raw_rows = fetch.insight_rows_by_report_run(
            client=client, since=record.since, until=record.until, on_started=remember
        )
    else:
        raw_rows = fetch.insight_rows_paged(client=client, since=record.since, until=record.until)
    chunk: list[InsightRow] = []
    for raw in raw_rows:
        record.rows_read += 1
        chunk.append(insight_row_parse(raw, default_currency=connection.ad_account_currency))
        if len(chunk) >= UPSERT_CHUNK:
            _upsert_and_count(record, chunk)
            chunk = []
    _upsert_and_count(record, chunk)


def _upsert_and_count(record: AdInsightImport, rows: list[InsightRow]) -> None:
    counts = metrics_upsert(record=record, rows=rows)
    record.inserted += counts.inserted
    record.updated += counts.updated
    record.unchanged += counts.unchanged
    # Progress visible in the admin while a long backfill runs.
    AdInsightImport.objects.filter(pk=record.pk).update(
        rows_read=record.rows_read, inserted=record.inserted, updated=record.updated, unchanged=record.unchanged
    )


def _finish(
    record: AdInsightImport, status: str, *, client: GraphClient | None = None, problem: Problem | None = None
) -> AdInsightImport:
    record.status = status
    record.finished_at = timezone.now()
    if client is not None:
        record.graph_calls = client.calls_made
    if problem is not None:
        record.error_kind, record.error_message, record.error_fix = problem.kind, problem.message, problem.fix
        logger.warning("Ad spend import %s %s: %s", record.pk, status, problem.kind)
    record.save()
    return record


# --- Writing rows --------------------------------------------------------------------------------------------


@dataclass
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def _chunks(values: list, size: int) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def metrics_upsert(*, record: AdInsightImport, rows: list[InsightRow]) -> UpsertCounts:
    """Insert new (day, ad) rows, update revised ones in place, leave equal ones alone."""
    latest: dict[Key, InsightRow] = {row.key: row for row in rows}  # a repeated row counts once
    if not latest:
        return UpsertCounts()
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                return _upsert(record, latest)
        except IntegrityError:
            # Another writer inserted one of these keys meanwhile: read again and update it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _existing(record: AdInsightImport, keys: Iterable[Key]) -> dict[Key, AdDailyMetric]:
    dates = sorted({key[0] for key in keys})
    ad_ids = sorted({key[3] for key in keys})
    found: dict[Key, AdDailyMetric] = {}
    for ids in _chunks(ad_ids, ID_CHUNK):
        rows = AdDailyMetric.objects.filter(
            project_id=record.project_id, ad_account_id=record.ad_account_id, date__in=dates, ad_id__in=ids
        )
        for metric in rows:
            found[(metric.date, metric.campaign_id, metric.adset_id, metric.ad_id)] = metric
    return found


def _upsert(record: AdInsightImport, latest: dict[Key, InsightRow]) -> UpsertCounts:
    existing = _existing(record, latest.keys())
    counts = UpsertCounts()
    now = timezone.now()
    new: list[AdDailyMetric] = []
    changed: list[AdDailyMetric] = []
    for key, row in latest.items():
        values = {name: getattr(row, name) for name in COMPARED_FIELDS}
        metric = existing.get(key)
        if metric is None:
            new.append(
                AdDailyMetric(
                    project_id=record.project_id,
                    connection_id=record.connection_id,
                    ad_account_id=record.ad_account_id,
                    date=row.date,
                    campaign_id=row.campaign_id,
                    adset_id=row.adset_id,
                    ad_id=row.ad_id,
                    first_imported_at=now,
                    updated_at=now,
                    last_import=record,
                    **values,
                )
            )
        elif any(getattr(metric, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(metric, name, value)
            metric.updated_at, metric.last_import, metric.connection_id = now, record, record.connection_id
            changed.append(metric)
        else:
            counts.unchanged += 1
    AdDailyMetric.objects.bulk_create(new, batch_size=500)
    _rows_update(changed)
    counts.inserted, counts.updated = len(new), len(changed)
    return counts


UPDATED_FIELDS = (*COMPARED_FIELDS, "updated_at", "last_import", "connection")


def _rows_update(metrics: list[AdDailyMetric]) -> None:
    """One parametrised UPDATE per revised row, sent with executemany.

    `bulk_update` builds a CASE WHEN per field and row in Python (about 2.6 ms a row
    here); revised days come in thousands for big accounts.
    """
    if not metrics:
        return
    fields = [AdDailyMetric._meta.get_field(name) for name in UPDATED_FIELDS]
    quote = db_connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    sql = f"UPDATE {quote(AdDailyMetric._meta.db_table)} SET {assignments} WHERE {quote('id')} = %s"  # noqa: S608
    params = [
        [field.get_db_prep_save(getattr(metric, field.attname), db_connection) for field in fields] + [metric.pk]
        for metric in metrics
    ]
    with db_connection.cursor() as cursor:
        cursor.executemany(sql, params)


def ad_set_audiences_refresh(*, record: AdInsightImport, client: GraphClient) -> int:
    """Which custom audiences each ad set targets now; returns the ad sets read.

    Ad sets Facebook no longer lists (archived, deleted) keep what was last read, so
    past spend still shows its cohort.
    """
    targeting: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    for ad_set in client.ad_sets(limit=conf.page_size()):
        audiences = (ad_set.get("targeting") or {}).get("custom_audiences") or []
        targeting[str(ad_set.get("id"))] = (
            str(ad_set.get("name") or "")[:400],
            [(str(a["id"]), str(a.get("name") or "")[:400]) for a in audiences if isinstance(a, dict) and a.get("id")],
        )
    now = timezone.now()
    scope = {"project_id": record.project_id, "ad_account_id": record.ad_account_id}
    with transaction.atomic():
        for ids in _chunks(sorted(targeting), ID_CHUNK):
            AdSetAudience.objects.filter(adset_id__in=ids, **scope).delete()
        AdSetAudience.objects.bulk_create(
            [
                AdSetAudience(
                    adset_id=adset_id, adset_name=name, audience_id=aid, audience_name=aname, seen_at=now, **scope
                )
                for adset_id, (name, audiences) in targeting.items()
                for aid, aname in audiences
            ],
            batch_size=500,
        )
    return len(targeting)

"""Writes of the cohorts app: cohort lists from Amplitude, member refreshes, CSV uploads.

`cohort_members_refresh` is what a sync run calls first: it downloads and encodes a
cohort's members only when Amplitude recomputed the cohort or the key mapping changed,
and otherwise returns a SKIPPED import without spending one of the 500 monthly downloads.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from cohorts.amplitude.client import (
    API_URL_BY_REGION,
    AmplitudeClient,
    AmplitudeCohortInfo,
    PollPolicy,
    RequestKind,
)
from cohorts.amplitude.errors import AmplitudeAuthError, AmplitudeMalformedResponse, AmplitudeNotFound
from cohorts.errors import (
    CohortError,
    CohortFileInvalid,
    CohortMappingInvalid,
    CohortNeedsUpload,
    CohortNotFromAmplitude,
    CohortRefreshBusy,
)
from cohorts.member_files import MemberFileReader, ungzip_if_needed
from cohorts.member_import import (
    EncodeReport,
    MemberSpool,
    members_apply,
    members_encode,
    planner_statistics_refresh,
)
from cohorts.models import AmplitudeListStatus, AmplitudeUsage, Cohort, CohortImport
from integrations.key_mappings import IDENTIFYING_KEY_REQUIRED, KeyPlan, project_key_plan
from integrations.models import Project
from integrations.processes import worker_is_gone, worker_label

logger = logging.getLogger(__name__)

REASON_DUPLICATE = "duplicate row"


# --- Amplitude client and its usage counter -------------------------------------------------


def amplitude_client_for_project(project: Project) -> AmplitudeClient:
    """A client on the project's region host (or AMPLITUDE_API_URL), counting its requests."""
    if not project.has_amplitude_credentials:
        raise AmplitudeAuthError(
            f"Project {project.name} has no Amplitude API key and secret key.",
            fix="Enter the project's Amplitude API key and secret key on the project's page.",
        )
    base_url = settings.AMPLITUDE_API_URL or API_URL_BY_REGION[project.amplitude_region]
    project_id = project.pk
    return AmplitudeClient(
        base_url=base_url,
        api_key=project.amplitude_api_key,
        secret_key=project.amplitude_secret_key,
        timeout=settings.AMPLITUDE_TIMEOUT_SECONDS,
        on_request=lambda kind: amplitude_usage_record(project_id=project_id, kind=kind),
    )


def _poll_policy() -> PollPolicy:
    return PollPolicy(
        timeout=float(getattr(settings, "AMPLITUDE_EXPORT_TIMEOUT_SECONDS", 900)),
        first_interval=float(getattr(settings, "AMPLITUDE_POLL_INTERVAL_SECONDS", 1.0)),
        max_interval=float(getattr(settings, "AMPLITUDE_POLL_MAX_INTERVAL_SECONDS", 10.0)),
    )


def usage_month(moment=None) -> date:
    """Usage is counted per calendar month, in UTC."""
    moment = moment or timezone.now()
    return moment.date().replace(day=1)


def amplitude_usage_record(*, project_id: int, kind: str) -> None:
    """Count one request; an F() update, so several workers never lose a count."""
    field = "download_requests" if kind == RequestKind.DOWNLOAD else "other_requests"
    month = usage_month()
    rows = AmplitudeUsage.objects.filter(project_id=project_id, month=month)
    if rows.update(**{field: F(field) + 1}):
        return
    try:
        with transaction.atomic():
            AmplitudeUsage.objects.create(project_id=project_id, month=month, **{field: 1})
    except IntegrityError:  # another worker created the month's row first
        rows.update(**{field: F(field) + 1})


# --- The cohort list ------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortListResult:
    seen: int
    created: int
    updated: int
    archived: int  # no longer listed by Amplitude: kept, marked archived


def cohorts_sync_from_amplitude(*, project: Project, client: AmplitudeClient | None = None) -> CohortListResult:
    """Upsert the project's Cohort rows from Amplitude's cohort list; records the outcome."""
    status, _ = AmplitudeListStatus.objects.get_or_create(project=project)
    status.attempted_at = timezone.now()
    try:
        client = client or amplitude_client_for_project(project)
        listed = client.cohorts_list()
    except CohortError as error:
        status.error_code, status.error_message, status.error_fix = error.code, str(error), error.fix
        status.save()
        raise
    result = _cohorts_upsert(project=project, listed=listed)
    status.succeeded_at = status.attempted_at
    status.cohorts_seen = result.seen
    status.error_code = status.error_message = status.error_fix = ""
    status.save()
    return result


_LIST_FIELDS = ["name", "description", "size", "last_computed", "last_computed_marker", "archived"]


@transaction.atomic
def _cohorts_upsert(*, project: Project, listed: list[AmplitudeCohortInfo]) -> CohortListResult:
    existing = {
        cohort.amplitude_cohort_id: cohort
        for cohort in Cohort.objects.filter(project=project, source=Cohort.Source.AMPLITUDE)
    }
    created: list[Cohort] = []
    changed: list[Cohort] = []
    for info in listed:
        values = {
            "name": info.name,
            "description": info.description,
            "size": info.size,
            "last_computed": info.last_computed,
            "last_computed_marker": info.last_computed_marker,
            "archived": info.archived,
        }
        cohort = existing.pop(info.id, None)
        if cohort is None:
            created.append(
                Cohort(project=project, source=Cohort.Source.AMPLITUDE, amplitude_cohort_id=info.id, **values)
            )
        elif any(getattr(cohort, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(cohort, name, value)
            cohort.updated_at = timezone.now()
            changed.append(cohort)
    gone = [cohort for cohort in existing.values() if not cohort.archived]
    for cohort in gone:
        cohort.archived = True
        cohort.updated_at = timezone.now()
    Cohort.objects.bulk_create(created, batch_size=500)
    Cohort.objects.bulk_update(changed + gone, [*_LIST_FIELDS, "updated_at"], batch_size=500)
    return CohortListResult(seen=len(listed), created=len(created), updated=len(changed), archived=len(gone))


# --- Member refresh from Amplitude ------------------------------------------------------------


def cohort_members_refresh(
    *, cohort: Cohort, force: bool = False, user=None, client: AmplitudeClient | None = None
) -> CohortImport:
    """Bring the cohort's members up to date with Amplitude; returns the CohortImport.

    SKIPPED (no download request) when Amplitude's lastComputed and the key mapping are
    those the stored members were built from, unless `force`. On failure the import is
    recorded as FAILED, nothing is half-imported, and the typed CohortError is raised.
    """
    project = cohort.project
    if cohort.source != Cohort.Source.AMPLITUDE:
        return _csv_cohort_check(cohort=cohort, user=user)
    try:
        plan = _usable_plan(project)
        client = client or amplitude_client_for_project(project)
        info = _cohort_current_info(cohort=cohort, client=client)
    except CohortError as error:
        _import_refused(cohort=cohort, user=user, error=error)  # shown on the cohort's page
        raise
    marker = info.last_computed_marker
    if (
        not force
        and marker
        and marker == cohort.members_source_marker
        and plan.fingerprint == cohort.members_mapping_fingerprint
        and cohort.members_refreshed_at is not None
    ):
        return _import_skipped(cohort=cohort, user=user, marker=marker, fingerprint=plan.fingerprint)

    record = _import_start(cohort=cohort, source=Cohort.Source.AMPLITUDE, user=user)
    record.source_marker, record.mapping_fingerprint = marker, plan.fingerprint
    stages: dict[str, float] = {}
    try:
        started = time.perf_counter()
        record.request_id = client.cohort_export_request(cohort.amplitude_cohort_id, prop_keys=plan.prop_keys)
        CohortImport.objects.filter(pk=record.pk).update(request_id=record.request_id)
        stages["request"] = _lap(started)
        started = time.perf_counter()
        client.cohort_export_wait(record.request_id, poll=_poll_policy())
        stages["wait"] = _lap(started)
        with client.cohort_export_file(record.request_id) as body:
            reader = MemberFileReader(
                binary=body,
                columns=plan.columns,
                error_class=_amplitude_file_error,
                amplitude=True,
            )
            spool, report = members_encode(reader, plan=plan, cohort_id=cohort.pk)
        stages["download"] = round(report.read_seconds, 3)
        stages["encode"] = round(report.encode_seconds, 3)
        with spool:
            _import_apply(record=record, spool=spool, report=report, stages=stages)
    except CohortError as error:
        _import_failed(record, error, stages=stages)
        raise
    except Exception as error:
        _import_failed(record, CohortError(f"Unexpected error: {type(error).__name__}: {error}"), stages=stages)
        raise
    cohort.refresh_from_db()
    return record


def _amplitude_file_error(message: str) -> AmplitudeMalformedResponse:
    return AmplitudeMalformedResponse(f"Amplitude's cohort file is broken: {message}")


def _usable_plan(project: Project) -> KeyPlan:
    plan = project_key_plan(project)
    if not plan.has_identifying_key:
        raise CohortMappingInvalid(f"Project {project.name} cannot encode members yet. {IDENTIFYING_KEY_REQUIRED}")
    return plan


def _cohort_current_info(*, cohort: Cohort, client: AmplitudeClient) -> AmplitudeCohortInfo:
    """Amplitude's current lastComputed (a list call: not a download, not capped)."""
    listed = client.cohorts_list()
    _cohorts_upsert(project=cohort.project, listed=listed)
    for info in listed:
        if info.id == cohort.amplitude_cohort_id:
            cohort.refresh_from_db()
            return info
    raise AmplitudeNotFound(
        f"Amplitude no longer lists cohort {cohort.amplitude_cohort_id} ({cohort.name}).",
        fix="The cohort was deleted in Amplitude: pause or delete the syncs that use it.",
    )


def _csv_cohort_check(*, cohort: Cohort, user) -> CohortImport:
    """A CSV cohort is refreshed only by a new upload; its mapping must still be current."""
    plan = _usable_plan(cohort.project)
    if cohort.members_refreshed_at is None:
        raise CohortNotFromAmplitude(f"Cohort {cohort.name} has no uploaded file yet.")
    if plan.fingerprint != cohort.members_mapping_fingerprint:
        raise CohortNeedsUpload(
            f"The key mapping of project {cohort.project.name} changed after {cohort.name} was uploaded."
        )
    return _import_skipped(
        cohort=cohort, user=user, marker=cohort.members_source_marker, fingerprint=plan.fingerprint,
        source=Cohort.Source.CSV,
    )


# --- CSV upload --------------------------------------------------------------------------------


def cohort_csv_import(
    *,
    project: Project,
    file: BinaryIO,
    file_name: str,
    name: str | None = None,
    cohort: Cohort | None = None,
    user=None,
) -> CohortImport:
    """Import an uploaded CSV (header row, columns named after the mapping's sources).

    Creates the cohort (source CSV) when `cohort` is None. Bad rows are counted with their
    line and reason and the good rows kept; a file that cannot be read at all raises
    CohortFileInvalid (recorded on the import) and changes nothing.
    """
    plan = _usable_plan(project)
    if cohort is None:
        cohort = Cohort.objects.create(project=project, source=Cohort.Source.CSV, name=(name or file_name)[:300])
    elif cohort.source != Cohort.Source.CSV:
        raise CohortFileInvalid(f"{cohort.name} comes from Amplitude; upload the file as a new cohort.")
    record = _import_start(cohort=cohort, source=Cohort.Source.CSV, user=user, file_name=file_name)
    record.mapping_fingerprint = plan.fingerprint
    stages: dict[str, float] = {}
    try:
        reader = MemberFileReader(
            binary=ungzip_if_needed(file),
            columns=plan.columns,
            error_class=CohortFileInvalid,
        )
        spool, report = members_encode(reader, plan=plan, cohort_id=cohort.pk)
        stages["read"] = round(report.read_seconds, 3)
        stages["encode"] = round(report.encode_seconds, 3)
        record.source_marker = f"upload:{record.pk}"
        with spool:
            _import_apply(record=record, spool=spool, report=report, stages=stages)
    except CohortError as error:
        _import_failed(record, error, stages=stages)
        raise
    except (OSError, EOFError) as error:  # a gzip upload cut short
        failure = CohortFileInvalid(f"The file could not be read: {error}")
        _import_failed(record, failure, stages=stages)
        raise failure from None
    return record


# --- The import record and the member update -------------------------------------------------


def _import_lease_seconds() -> int:
    # A refresh that ran longer than a task may (Q_TIMEOUT_SECONDS) died with its worker.
    return int(getattr(settings, "Q_TIMEOUT_SECONDS", 1800))


def _import_start(*, cohort: Cohort, source: str, user, file_name: str = "") -> CohortImport:
    """Create the RUNNING import, unless another refresh of this cohort holds the lease."""
    with transaction.atomic():
        Cohort.objects.select_for_update().filter(pk=cohort.pk).first()
        running = CohortImport.objects.filter(cohort=cohort, status=CohortImport.Status.RUNNING)
        stale_before = timezone.now() - timedelta(seconds=_import_lease_seconds())
        # Expired, or held by a process of this machine that died (killed mid-refresh).
        dead = [pk for pk, worker in running.values_list("pk", "worker") if worker_is_gone(worker)]
        running.filter(Q(started_at__lt=stale_before) | Q(pk__in=dead)).update(
            status=CohortImport.Status.FAILED,
            finished_at=timezone.now(),
            error_message="Interrupted: the worker stopped before the refresh finished.",
            error_code="interrupted",
        )
        if running.exists():
            raise CohortRefreshBusy(f"Another refresh of {cohort.name} is running.")
        return CohortImport.objects.create(
            cohort=cohort,
            source=source,
            started_by=_user_or_none(user),
            file_name=file_name[:255],
            worker=worker_label(),
        )


def _import_skipped(
    *, cohort: Cohort, user, marker: str, fingerprint: str, source: str = Cohort.Source.AMPLITUDE
) -> CohortImport:
    now = timezone.now()
    return CohortImport.objects.create(
        cohort=cohort,
        source=source,
        started_by=_user_or_none(user),
        status=CohortImport.Status.SKIPPED,
        started_at=now,
        finished_at=now,
        source_marker=marker,
        mapping_fingerprint=fingerprint,
        members_after=cohort.members_count,
    )


def _import_refused(*, cohort: Cohort, user, error: CohortError) -> CohortImport:
    """A refresh that could not start (mapping, credentials, Amplitude down), recorded all the same."""
    now = timezone.now()
    return CohortImport.objects.create(
        cohort=cohort,
        source=Cohort.Source.AMPLITUDE,
        started_by=_user_or_none(user),
        status=CohortImport.Status.FAILED,
        started_at=now,
        finished_at=now,
        error_code=error.code,
        error_message=str(error)[:2000],
        error_fix=error.fix,
    )


def _import_apply(*, record: CohortImport, spool: MemberSpool, report: EncodeReport, stages: dict) -> None:
    """One transaction, the cohort row locked: members, the cohort's summary, the import."""
    started = time.perf_counter()
    with transaction.atomic():
        cohort = Cohort.objects.select_for_update().get(pk=record.cohort_id)
        applied = members_apply(cohort_id=cohort.pk, spool=spool)
        planner_statistics_refresh(applied=applied)  # in the transaction: its rows are counted
        duplicates = max(0, report.rows_kept - applied.members)
        reasons = dict(report.rejected_reasons)
        if duplicates:
            reasons[REASON_DUPLICATE] = duplicates
        now = timezone.now()
        cohort.members_count = applied.members
        cohort.members_skipped = report.rows_rejected + duplicates
        cohort.members_skipped_reasons = reasons
        cohort.members_refreshed_at = now
        cohort.members_source_marker = record.source_marker
        cohort.members_mapping_fingerprint = record.mapping_fingerprint
        cohort.save(
            update_fields=[
                "members_count",
                "members_skipped",
                "members_skipped_reasons",
                "members_refreshed_at",
                "members_source_marker",
                "members_mapping_fingerprint",
                "updated_at",
            ]
        )
        stages["apply"] = _lap(started)
        record.status = CohortImport.Status.SUCCEEDED
        record.finished_at = now
        record.rows_read = report.rows_read
        record.rows_kept = report.rows_kept
        record.rows_rejected = report.rows_rejected
        record.rows_duplicate = duplicates
        record.rejected_reasons = dict(report.rejected_reasons)
        record.rejected_sample = report.rejected_sample
        record.warnings = report.warnings
        record.key_quality = report.key_quality
        record.members_added = applied.added
        record.members_removed = applied.removed
        record.members_after = applied.members
        record.stage_seconds = stages
        record.save()
    record.cohort = cohort


def _import_failed(record: CohortImport, error: CohortError, *, stages: dict) -> None:
    record.status = CohortImport.Status.FAILED
    record.finished_at = timezone.now()
    record.error_code = error.code
    record.error_message = str(error)[:2000]
    record.error_fix = error.fix
    record.stage_seconds = stages
    # Only the outcome: the counters of a failed import would describe rows never stored.
    record.save(
        update_fields=[
            "status", "finished_at", "error_code", "error_message", "error_fix", "stage_seconds", "request_id"
        ]
    )
    logger.warning("Cohort import %s of cohort %s failed: %s", record.pk, record.cohort_id, error.code)


def _lap(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def _user_or_none(user):
    return user if user is not None and getattr(user, "is_authenticated", False) else None

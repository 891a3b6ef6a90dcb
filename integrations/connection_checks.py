"""The checks of a Facebook connection: ask Facebook, record the outcome, hold or release jobs.

`connection_check` runs at once after connecting, daily (`connections_check_all`), on
"Check again", and before every sync (the engine calls it). The checks run in the
order a person would fix things: the token (valid, not expired, of this app), its
scopes, the ad account (readable, active, in a Business Manager), the person's role
on it, the Custom Audience Terms, and a read of the account's audiences.

Outcome: every check passes -> `active`, the jobs held for the connection resume; a
check fails -> `needs_attention` with the problem and its fix, the connection's jobs
are held with that reason (syncs/pausing.py); Facebook unreachable -> nothing changes
(a hiccup is no reason to stop syncs; the next check decides).

Audit: one `connection.check_failed` per *change* of problem (a daily check finding
the same problem again adds nothing), and one `connection.check_passed` when a
check clears a recorded problem, with the number of jobs held or resumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from integrations.audit import AuditActions, audit_record
from integrations.connection_problems import (
    SETUP_CODES,
    TOKEN_EXPIRED_SUBCODE,
    WRONG_APP,
    ConnectionProblem,
    ProblemCode,
    ad_account_inactive_problem,
    ad_account_unreadable_problem,
    expiry_warning,
    no_business_manager_problem,
    optional_scope_warning,
    permission_problem,
    problem_from_error,
    scope_missing_problem,
    terms_problem,
    token_expired_problem,
    token_invalid_problem,
)
from integrations.facebook.client import AD_ACCOUNT_FIELDS, GraphClient
from integrations.facebook.errors import GraphError, InvalidRequest, PermissionMissing, RateLimited, Transient
from integrations.facebook.results import AdAccount, TokenInfo
from integrations.facebook.retry import RetryPolicy
from integrations.models import FacebookConnection
from syncs.pausing import sync_jobs_hold_for_connection, sync_jobs_release_for_connection

Status = FacebookConnection.Status

# Custom audiences need ads_management; business-owned ad accounts need business_management.
REQUIRED_SCOPES = ("ads_management", "business_management")
# Only the ad spend import needs it: missing, it is a warning, not a reason to hold syncs.
OPTIONAL_SCOPES = ("ads_read",)
# Meta's `user_tasks` on an ad account [unverified shape]: either task lets a person
# create and fill custom audiences. When Facebook does not send the field, the
# audiences read at the end of the checks is the proof.
AUDIENCE_TASKS = frozenset({"MANAGE", "ADVERTISE"})
USER_TASKS_FIELD = "user_tasks"
INVALID_PARAMETER_CODE = 100

# A person may be waiting on the page: retry a hiccup once, never sleep through a throttle.
CHECK_RETRY_POLICY = RetryPolicy(max_attempts=2, max_total_seconds=10.0, max_delay=2.0, max_throttle_wait=5.0)


class ConnectionAuditActions:
    """Connection events beyond `AuditActions` (free text in the database, like the rest)."""

    AD_ACCOUNT_CHOSEN = "connection.ad_account_chosen"
    CHECK_PASSED = "connection.check_passed"


class CheckTrigger:
    AFTER_CONNECT = "after_connect"
    CHECK_AGAIN = "check_again"
    DAILY = "daily"
    BEFORE_SYNC = "before_sync"
    DURING_SYNC = "during_sync"


@dataclass(frozen=True)
class ConnectionCheckResult:
    status: str  # the connection's status after the check
    problem: ConnectionProblem | None
    warnings: tuple[str, ...]
    # Facebook could not be asked (down, throttling): the connection was left as it was.
    unavailable: str | None
    checked_at: datetime
    jobs_held: int = 0
    jobs_released: int = 0

    @property
    def passed(self) -> bool:
        """True when a sync may run on this connection now."""
        return self.status == Status.ACTIVE and self.problem is None and self.unavailable is None


def graph_client_for(*, token: str, ad_account_id: str | None = None) -> GraphClient:
    return GraphClient.from_settings(token, ad_account_id=ad_account_id or None, retry_policy=CHECK_RETRY_POLICY)


def connection_expiry_warning(*, connection: FacebookConnection, now: datetime | None = None) -> str | None:
    if connection.status == Status.DISCONNECTED:
        return None
    return expiry_warning(connection.token_expires_at, now=now)


# --- Asking Facebook (no writes) ------------------------------------------------------------


@dataclass
class CheckFindings:
    """What Facebook said, stored on the connection whatever the outcome."""

    problem: ConnectionProblem | None = None
    warnings: list[str] = field(default_factory=list)
    unavailable: str | None = None
    token_expires_at: datetime | None = None
    expiry_known: bool = False
    granted_scopes: list[str] | None = None
    account: AdAccount | None = None


def connection_checks_run(*, client: GraphClient, connection: FacebookConnection) -> CheckFindings:
    findings = CheckFindings()
    try:
        info = _inspect_token(client)
        findings.problem = _token_problem(info, connection)
        if findings.problem is None:
            findings.token_expires_at, findings.expiry_known = info.expires_at, True
            findings.problem = _scope_problem(findings, client, info)
        if findings.problem is None and connection.ad_account_id:
            findings.problem = _ad_account_problem(findings, client, connection)
    except (Transient, RateLimited) as error:
        findings.unavailable = f"Facebook could not be reached to check the connection ({error.message}); try again."
    except GraphError as error:
        findings.problem = problem_from_error(error, connection)
    warning = expiry_warning(findings.token_expires_at) if findings.problem is None else None
    if warning:
        findings.warnings.insert(0, warning)
    return findings


def _inspect_token(client: GraphClient) -> TokenInfo:
    # With the app's credentials Facebook inspects any token of our app; without them
    # (no app configured) the token inspects itself.
    app_id, app_secret = settings.FACEBOOK_APP_ID, settings.FACEBOOK_APP_SECRET
    if app_id and app_secret:
        return client.debug_token(app_id=app_id, app_secret=app_secret)
    return client.debug_token()


def _token_problem(info: TokenInfo, connection: FacebookConnection) -> ConnectionProblem | None:
    expired = info.expires_at is not None and info.expires_at <= timezone.now()
    if expired or info.error_subcode == TOKEN_EXPIRED_SUBCODE:
        return token_expired_problem(info.expires_at)
    if not info.is_valid:
        return token_invalid_problem(connection, info.error_message)
    if info.app_id and settings.FACEBOOK_APP_ID and info.app_id != str(settings.FACEBOOK_APP_ID):
        return WRONG_APP
    return None


def _scope_problem(findings: CheckFindings, client: GraphClient, info: TokenInfo) -> ConnectionProblem | None:
    granted = list(info.scopes)
    if not granted:
        # Some debug answers omit scopes; me/permissions lists them one by one.
        granted = [name for name, status in client.permissions().items() if status == "granted"]
    findings.granted_scopes = granted
    missing_optional = [scope for scope in OPTIONAL_SCOPES if scope not in granted]
    if missing_optional:
        findings.warnings.append(optional_scope_warning(missing_optional))
    missing = [scope for scope in REQUIRED_SCOPES if scope not in granted]
    return scope_missing_problem(missing) if missing else None


def _ad_account_problem(
    findings: CheckFindings, client: GraphClient, connection: FacebookConnection
) -> ConnectionProblem | None:
    try:
        account = _ad_account_read(client, connection.ad_account_id)
    except PermissionMissing as error:
        return ad_account_unreadable_problem(connection, error.message)
    findings.account = account
    label = account.name or account.id
    if account.account_status is not None and not account.is_active:
        return ad_account_inactive_problem(label, account.account_status)
    if not account.in_business_manager:
        return no_business_manager_problem(label)
    tasks = account.raw.get(USER_TASKS_FIELD)
    if isinstance(tasks, list) and not AUDIENCE_TASKS & {str(task).upper() for task in tasks}:
        return permission_problem(connection, label)
    if not account.custom_audience_terms_accepted:
        return terms_problem(connection, account.id, account.name)
    try:
        # Reading one audience proves the token may work with this account's audiences.
        next(iter(client.custom_audiences(connection.ad_account_id, fields=("id",))), None)
    except PermissionMissing:
        return permission_problem(connection, label)
    return None


def _ad_account_read(client: GraphClient, ad_account_id: str) -> AdAccount:
    """The ad account with the person's `user_tasks` on it when the Graph serves that field."""
    try:
        return client.ad_account(ad_account_id, fields=(*AD_ACCOUNT_FIELDS, USER_TASKS_FIELD))
    except InvalidRequest as error:
        if error.code != INVALID_PARAMETER_CODE or USER_TASKS_FIELD not in error.message:
            raise
    # "(#100) Tried accessing nonexisting field (user_tasks)": ask without it; the
    # audiences read below still proves access.
    return client.ad_account(ad_account_id, fields=AD_ACCOUNT_FIELDS)


# --- Recording the outcome --------------------------------------------------------------------


def connection_check(
    *,
    connection: FacebookConnection,
    actor=None,
    request: HttpRequest | None = None,
    trigger: str = CheckTrigger.BEFORE_SYNC,
    max_age: timedelta | None = None,
    client: GraphClient | None = None,
) -> ConnectionCheckResult:
    """Run every check and record the outcome; the sync engine calls this before each run.

    `max_age`: when the connection passed its checks less than this long ago, answer
    from the record without asking Facebook (for an engine starting many jobs on one
    account at once). A disconnected connection, or one without an ad account, is
    answered from the record too: there is nothing to ask Facebook about.
    """
    now = timezone.now()
    if connection.status == Status.DISCONNECTED or not connection.access_token or not connection.ad_account_id:
        return _result_from_record(connection, now)
    recently_passed = (
        max_age is not None
        and connection.status == Status.ACTIVE
        and connection.last_checked_at is not None
        and now - connection.last_checked_at < max_age
    )
    if recently_passed:
        return _result_from_record(connection, now)
    own_client = client is None
    client = client or graph_client_for(token=connection.access_token, ad_account_id=connection.ad_account_id)
    try:
        findings = connection_checks_run(client=client, connection=connection)
    finally:
        if own_client:
            client.close()
    return _check_record(connection=connection, findings=findings, actor=actor, request=request, trigger=trigger)


def connection_problem_record(
    *, connection: FacebookConnection, error: GraphError, actor=None
) -> ConnectionCheckResult:
    """A permanent connection error the sync engine met mid-run, recorded like a failed check."""
    findings = CheckFindings(problem=problem_from_error(error, connection))
    return _check_record(
        connection=connection, findings=findings, actor=actor, request=None, trigger=CheckTrigger.DURING_SYNC
    )


def connections_check_all() -> dict[str, int]:
    """The daily check of every connection that has a token and an ad account."""
    counts = {"checked": 0, "active": 0, "needs_attention": 0, "unavailable": 0}
    connections = FacebookConnection.objects.exclude(status=Status.DISCONNECTED).exclude(ad_account_id="")
    for connection in connections.select_related("project").iterator():
        result = connection_check(connection=connection, trigger=CheckTrigger.DAILY)
        counts["checked"] += 1
        if result.unavailable:
            counts["unavailable"] += 1
        elif result.passed:
            counts["active"] += 1
        else:
            counts["needs_attention"] += 1
    return counts


def _result_from_record(connection: FacebookConnection, now: datetime) -> ConnectionCheckResult:
    problem = None
    if connection.status != Status.ACTIVE:
        code = connection.problem_code or ProblemCode.DISCONNECTED
        problem = ConnectionProblem(code, connection.problem_message, connection.problem_fix)
    warning = connection_expiry_warning(connection=connection, now=now)
    return ConnectionCheckResult(
        status=connection.status,
        problem=problem,
        warnings=(warning,) if warning else (),
        unavailable=None,
        checked_at=connection.last_checked_at or now,
    )


def _check_record(
    *, connection: FacebookConnection, findings: CheckFindings, actor, request: HttpRequest | None, trigger: str
) -> ConnectionCheckResult:
    now = timezone.now()
    asked_about = connection.connected_at
    with transaction.atomic():
        current = FacebookConnection.objects.select_for_update().select_related("project").get(pk=connection.pk)
        if current.status == Status.DISCONNECTED or current.connected_at != asked_about:
            # Disconnected or reconnected while Facebook was being asked: the answer is
            # about a token this connection no longer holds.
            return _result_from_record(current, now)
        if findings.unavailable:
            return ConnectionCheckResult(current.status, None, tuple(findings.warnings), findings.unavailable, now)
        previous_code = current.problem_code
        _store_findings(current, findings, now)
        if findings.problem is None:
            result = _record_pass(current, previous_code, findings, actor, request, trigger, now)
        else:
            result = _record_failure(current, findings, previous_code, actor, request, trigger, now)
    connection.refresh_from_db()
    return result


def _store_findings(connection: FacebookConnection, findings: CheckFindings, now: datetime) -> None:
    connection.last_checked_at = now
    if findings.expiry_known:
        connection.token_expires_at = findings.token_expires_at
    if findings.granted_scopes is not None:
        connection.granted_scopes = findings.granted_scopes
    if findings.account is not None:
        ad_account_facts_copy(connection=connection, account=findings.account)
    elif findings.problem is not None and findings.problem.code == ProblemCode.TERMS_NOT_ACCEPTED:
        connection.terms_status = FacebookConnection.TermsStatus.NOT_ACCEPTED


def _record_pass(connection, previous_code, findings, actor, request, trigger, now) -> ConnectionCheckResult:
    connection.status = Status.ACTIVE
    problem_set(connection=connection, problem=None)
    connection.save()
    released = sync_jobs_release_for_connection(connection=connection)
    if previous_code and previous_code not in SETUP_CODES:
        audit_record(
            action=ConnectionAuditActions.CHECK_PASSED,
            actor=actor,
            project=connection.project,
            target=connection,
            changes={"problem_cleared": previous_code, "jobs_resumed": released, "trigger": trigger},
            request=request,
        )
    return ConnectionCheckResult(Status.ACTIVE, None, tuple(findings.warnings), None, now, jobs_released=released)


def _record_failure(connection, findings, previous_code, actor, request, trigger, now) -> ConnectionCheckResult:
    problem: ConnectionProblem = findings.problem
    connection.status = Status.NEEDS_ATTENTION
    problem_set(connection=connection, problem=problem)
    connection.save()
    held = sync_jobs_hold_for_connection(connection=connection, reason=problem.message, fix=problem.fix)
    if problem.code != previous_code:
        audit_record(
            action=AuditActions.CONNECTION_CHECK_FAILED,
            actor=actor,
            project=connection.project,
            target=connection,
            changes={"problem": problem.code, "jobs_held": held, "trigger": trigger},
            request=request,
        )
    return ConnectionCheckResult(Status.NEEDS_ATTENTION, problem, tuple(findings.warnings), None, now, jobs_held=held)


def ad_account_facts_copy(*, connection: FacebookConnection, account: AdAccount) -> None:
    """Keep what Facebook says about the ad account on the connection, for the pages."""
    connection.ad_account_id = account.id
    connection.ad_account_name = account.name[:200]
    connection.ad_account_currency = (account.currency or "")[:3]
    connection.ad_account_timezone = (account.timezone_name or "")[:64]
    connection.business_id = account.business_id or ""
    connection.business_name = (account.business_name or "")[:200]
    connection.terms_status = (
        FacebookConnection.TermsStatus.ACCEPTED
        if account.custom_audience_terms_accepted
        else FacebookConnection.TermsStatus.NOT_ACCEPTED
    )


def problem_set(*, connection: FacebookConnection, problem: ConnectionProblem | None) -> None:
    connection.problem_code = problem.code if problem else ""
    connection.problem_message = problem.message if problem else ""
    connection.problem_fix = problem.fix if problem else ""

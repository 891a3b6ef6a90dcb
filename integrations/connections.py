"""Services for a project's Facebook connections: connect, choose the ad account, check,
disconnect, reconnect. Views, the allauth glue, schedules and the sync engine call these.

Lifecycle of a `FacebookConnection`:
- a token arrives (Continue with Facebook, or a pasted system-user token):
  `connection_token_attach` creates the connection (status needs_attention, problem
  `ad_account_not_chosen`) or, for a reconnect, puts the new token and person on the
  existing one;
- `connection_ad_account_choose` sets the ad account and runs the checks;
- `connection_check` (at once, daily, on "Check again", before every sync) sets
  `active` when every check passes and releases the jobs held for the connection, or
  `needs_attention` with the problem in plain words and holds its jobs;
- `connection_disconnect` revokes at Facebook where possible, erases the token, sets
  `disconnected` and holds the jobs; a reconnect brings the same row back.

Audit: connect, reconnect, ad account choice and disconnect leave one event each. A
failed check leaves one `connection.check_failed` event per change of problem (a daily
check that finds the same problem again adds none), and a check that clears a problem
leaves one `connection.check_passed` event, so the trail says when syncs were held and
when they resumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from integrations.audit import AuditActions, audit_record
from integrations.connection_checks import (
    CheckTrigger,
    ConnectionAuditActions,
    ConnectionCheckResult,
    ad_account_facts_copy,
    connection_check,
    connection_expiry_warning,
    connection_problem_record,
    connections_check_all,
    graph_client_for,
    problem_set,
)
from integrations.connection_problems import AD_ACCOUNT_NOT_CHOSEN, NOT_CHECKED, disconnected_problem
from integrations.facebook.errors import GraphError, RateLimited, Transient
from integrations.facebook.results import AdAccount, TokenInfo
from integrations.models import FacebookConnection, Project
from syncs.pausing import sync_jobs_hold_for_connection

# What the sync engine and the admin call, besides the connect services below.
__all__ = [
    "CheckTrigger",
    "ConnectError",
    "ConnectionCheckResult",
    "DisconnectOutcome",
    "connection_ad_account_choose",
    "connection_ad_accounts_list",
    "connection_check",
    "connection_disconnect",
    "connection_expiry_warning",
    "connection_oauth_complete",
    "connection_problem_record",
    "connection_system_user_token_submit",
    "connection_token_attach",
    "connections_check_all",
]

Status = FacebookConnection.Status
TokenSource = FacebookConnection.TokenSource


class ConnectError(Exception):
    """A connect step failed; the message is meant for the person, in plain words."""


@dataclass(frozen=True)
class DisconnectOutcome:
    revoked: bool
    revoke_note: str  # why it was not revoked at Facebook, in plain words ("" when it was)
    jobs_held: int


def _app_credentials() -> tuple[str, str]:
    app_id, app_secret = settings.FACEBOOK_APP_ID, settings.FACEBOOK_APP_SECRET
    if not (app_id and app_secret):
        raise ConnectError("No Facebook app is configured (FACEBOOK_APP_ID and FACEBOOK_APP_SECRET).")
    return app_id, app_secret


def _plain_graph_failure(error: GraphError, doing: str) -> ConnectError:
    if isinstance(error, Transient | RateLimited):
        return ConnectError(f"Facebook could not be reached while {doing}; nothing was changed. Try again shortly.")
    return ConnectError(f"Facebook refused {doing}: {error.message}. {error.fix}")


# --- Tokens arriving -------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenOwner:
    user_id: str
    name: str
    scopes: list[str]
    expires_at: datetime | None


def facebook_token_inspect(*, token: str, source: str) -> TokenOwner:
    """Who a token belongs to, what it may do and until when; ConnectError if it is unusable."""
    client = graph_client_for(token=token)
    try:
        app_id, app_secret = _app_credentials()
        info: TokenInfo = client.debug_token(app_id=app_id, app_secret=app_secret)
        if not info.is_valid:
            said = f" Facebook said: {info.error_message}" if info.error_message else ""
            raise ConnectError(f"Facebook says this token is not valid (expired, revoked or mistyped).{said}")
        if info.app_id and info.app_id != str(app_id):
            raise ConnectError(
                "This token was made for another Facebook app. Generate the system-user token for this "
                "tool's app (Business settings > System users > Generate new token)."
            )
        me = client.me(fields=("id", "name"))
    except GraphError as error:
        raise _plain_graph_failure(error, "checking the token") from None
    finally:
        client.close()
    user_id = str(info.user_id or me.get("id") or "")
    if not user_id:
        raise ConnectError("Facebook did not say whom this token belongs to; it cannot be used.")
    expires_at = info.expires_at
    if source == TokenSource.SYSTEM_USER and expires_at is not None and expires_at <= timezone.now():
        raise ConnectError("This token has already expired.")
    return TokenOwner(user_id=user_id, name=str(me.get("name") or ""), scopes=list(info.scopes), expires_at=expires_at)


def facebook_long_lived_token_exchange(*, short_lived_token: str) -> str:
    """Swap the dialog's short-lived user token for a ~60-day one (fb_exchange_token)."""
    app_id, app_secret = _app_credentials()
    with graph_client_for(token=short_lived_token) as client:
        try:
            return client.exchange_long_lived_token(app_id=app_id, app_secret=app_secret).access_token
        except GraphError as error:
            raise _plain_graph_failure(error, "a long-lived token") from None


def connection_oauth_complete(
    *,
    project: Project,
    connection: FacebookConnection | None,
    short_lived_token: str,
    actor,
    request: HttpRequest | None = None,
) -> FacebookConnection:
    """The end of Continue with Facebook: exchange, inspect and store the token."""
    token = facebook_long_lived_token_exchange(short_lived_token=short_lived_token)
    return connection_token_attach(
        project=project, connection=connection, token=token, source=TokenSource.OAUTH, actor=actor, request=request
    )


def connection_system_user_token_submit(
    *,
    project: Project,
    token: str,
    actor,
    connection: FacebookConnection | None = None,
    request: HttpRequest | None = None,
) -> FacebookConnection:
    token = token.strip()
    if not token:
        raise ConnectError("Paste the system-user token.")
    return connection_token_attach(
        project=project,
        connection=connection,
        token=token,
        source=TokenSource.SYSTEM_USER,
        actor=actor,
        request=request,
    )


def connection_token_attach(
    *,
    project: Project,
    connection: FacebookConnection | None,
    token: str,
    source: str,
    actor,
    request: HttpRequest | None = None,
) -> FacebookConnection:
    """Store a validated token: a new pending connection, or the same one reconnected."""
    owner = facebook_token_inspect(token=token, source=source)
    with transaction.atomic():
        if connection is None:
            connection = FacebookConnection(project=project)
            before_person = None
        else:
            connection = FacebookConnection.objects.select_for_update().get(pk=connection.pk, project=project)
            before_person = (connection.token_source, connection.facebook_user_id)
        connection.access_token = token
        connection.token_source = source
        connection.token_expires_at = owner.expires_at
        connection.granted_scopes = owner.scopes
        connection.facebook_user_id = owner.user_id
        connection.facebook_user_name = owner.name[:200]
        connection.connected_by = actor
        connection.connected_at = timezone.now()
        connection.status = Status.NEEDS_ATTENTION
        if not connection.ad_account_id:
            problem_set(connection=connection, problem=AD_ACCOUNT_NOT_CHOSEN)
        elif not connection.problem_code:
            problem_set(connection=connection, problem=NOT_CHECKED)
        # Otherwise a reconnect keeps the old problem on screen until the checks below
        # replace it, so the check that clears it is recorded (with the jobs resumed).
        connection.save()
        changes = {"source": source, "access_token": "set", "expires": _day(owner.expires_at)}
        if before_person is None:
            action = AuditActions.CONNECTION_CONNECTED
        else:
            action = AuditActions.CONNECTION_RECONNECTED
            changes["facebook_person_changed"] = before_person != (source, owner.user_id)
        audit_record(action=action, actor=actor, project=project, target=connection, changes=changes, request=request)
    if connection.ad_account_id:
        connection_check(connection=connection, actor=actor, request=request, trigger=CheckTrigger.AFTER_CONNECT)
        connection.refresh_from_db()
    return connection


def _day(value: datetime | None) -> str:
    return value.date().isoformat() if value else "never"


# --- Choosing the ad account ----------------------------------------------------------------


def connection_ad_accounts_list(*, connection: FacebookConnection) -> list[AdAccount]:
    """The ad accounts the connection's token reaches, by name."""
    if not connection.access_token:
        raise ConnectError("This connection has no token: reconnect first.")
    with graph_client_for(token=connection.access_token) as client:
        try:
            accounts = list(client.ad_accounts())
        except GraphError as error:
            raise _plain_graph_failure(error, "listing the ad accounts") from None
    return sorted(accounts, key=lambda account: (account.name.lower(), account.id))


def connection_ad_account_choose(
    *, connection: FacebookConnection, ad_account_id: str, actor, request: HttpRequest | None = None
) -> FacebookConnection:
    """Point the connection at one of its person's ad accounts, then check it at once.

    When the project already has a connection to that ad account (disconnected, or
    connected by someone else), the new token moves onto it and this pending one is
    removed: the existing connection's jobs and history carry on, as with a reconnect.
    """
    account = next((a for a in connection_ad_accounts_list(connection=connection) if a.id == ad_account_id), None)
    if account is None:
        raise ConnectError("That ad account is not among the ones this Facebook login can reach.")
    sibling = (
        FacebookConnection.objects.filter(project_id=connection.project_id, ad_account_id=account.id)
        .exclude(pk=connection.pk)
        .first()
    )
    if sibling is not None:
        return _connection_merge_into(pending=connection, target=sibling, actor=actor, request=request)
    with transaction.atomic():
        connection = FacebookConnection.objects.select_for_update().get(pk=connection.pk)
        before = connection.ad_account_id
        ad_account_facts_copy(connection=connection, account=account)
        connection.save()
        audit_record(
            action=ConnectionAuditActions.AD_ACCOUNT_CHOSEN,
            actor=actor,
            project=connection.project,
            target=connection,
            changes={"ad_account_id": [before or None, account.id]},
            request=request,
        )
    connection_check(connection=connection, actor=actor, request=request, trigger=CheckTrigger.AFTER_CONNECT)
    connection.refresh_from_db()
    return connection


def _connection_merge_into(
    *, pending: FacebookConnection, target: FacebookConnection, actor, request: HttpRequest | None
) -> FacebookConnection:
    with transaction.atomic():
        target = FacebookConnection.objects.select_for_update().get(pk=target.pk)
        pending = FacebookConnection.objects.select_for_update().get(pk=pending.pk)
        person_changed = (target.token_source, target.facebook_user_id) != (
            pending.token_source,
            pending.facebook_user_id,
        )
        for name in (
            "access_token",
            "token_source",
            "token_expires_at",
            "granted_scopes",
            "facebook_user_id",
            "facebook_user_name",
            "connected_by",
            "connected_at",
        ):
            setattr(target, name, getattr(pending, name))
        if target.status == Status.DISCONNECTED:
            target.status = Status.NEEDS_ATTENTION
        target.save()
        pending.delete()
        audit_record(
            action=AuditActions.CONNECTION_RECONNECTED,
            actor=actor,
            project=target.project,
            target=target,
            changes={
                "source": target.token_source,
                "access_token": "set",
                "facebook_person_changed": person_changed,
                "via": "ad account choice",
            },
            request=request,
        )
    connection_check(connection=target, actor=actor, request=request, trigger=CheckTrigger.AFTER_CONNECT)
    target.refresh_from_db()
    return target


# --- Disconnect ------------------------------------------------------------------------------


def connection_disconnect(
    *, connection: FacebookConnection, actor, request: HttpRequest | None = None
) -> DisconnectOutcome:
    """Revoke at Facebook where possible, erase the token, hold the jobs; history stays."""
    if connection.status == Status.DISCONNECTED and not connection.access_token:
        return DisconnectOutcome(revoked=False, revoke_note="It was already disconnected.", jobs_held=0)
    revoked, note = _revoke_at_facebook(connection)
    with transaction.atomic():
        connection = FacebookConnection.objects.select_for_update().get(pk=connection.pk)
        connection.access_token = ""
        connection.token_expires_at = None
        connection.granted_scopes = []
        connection.status = Status.DISCONNECTED
        who = actor.get_username() if actor is not None and actor.is_authenticated else "the system"
        problem_set(connection=connection, problem=disconnected_problem(who))
        connection.save()
        held = sync_jobs_hold_for_connection(
            connection=connection, reason=connection.problem_message, fix=connection.problem_fix
        )
        audit_record(
            action=AuditActions.CONNECTION_DISCONNECTED,
            actor=actor,
            project=connection.project,
            target=connection,
            changes={
                "access_token": "cleared",
                "revoked_at_facebook": revoked,
                "revoke_note": note,
                "jobs_held": held,
            },
            request=request,
        )
    return DisconnectOutcome(revoked=revoked, revoke_note=note, jobs_held=held)


def _revoke_at_facebook(connection: FacebookConnection) -> tuple[bool, str]:
    if not connection.access_token:
        return False, "There was no token to revoke."
    # DELETE me/permissions removes the app from the person's Facebook account: every
    # token of that person dies with it, including those of other connections.
    others = (
        FacebookConnection.objects.filter(
            facebook_user_id=connection.facebook_user_id, token_source=connection.token_source
        )
        .exclude(pk=connection.pk)
        .exclude(status=Status.DISCONNECTED)
        .count()
    )
    if others:
        return False, (
            f"Not revoked at Facebook: the same Facebook login still serves {others} other "
            f"connection{'s' if others != 1 else ''}, which revoking would break."
        )
    with graph_client_for(token=connection.access_token) as client:
        try:
            if client.revoke_permissions():
                return True, ""
            return False, "Facebook did not confirm the revocation."
        except GraphError as error:
            return False, f"Facebook did not revoke the app's access ({error.message}); the token was erased anyway."

"""What can be wrong with a Facebook connection, in the plain words a person reads, with the fix.

Every problem has a stable `code` (stored in `FacebookConnection.problem_code` and in
audit events), a `message` saying what is wrong and a `fix` saying what to do.
Facts behind the wording: /work/shared/docs/facebook-marketing-api.md, sections 4 and 5.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from integrations.facebook.endpoints import terms_acceptance_url
from integrations.facebook.errors import (
    GraphError,
    NoBusinessManager,
    PermissionMissing,
    TermsNotAccepted,
    TokenInvalid,
)
from integrations.models import FacebookConnection

EXPIRY_WARNING_DAYS = 7
TOKEN_EXPIRED_SUBCODE = 463

# https://developers.facebook.com/docs/marketing-api/reference/ad-account/ (account_status)
ACCOUNT_STATUS_WORDS = {
    2: ("disabled by Facebook", "Open Account Quality in Business Manager to see why and to request a review."),
    3: ("unsettled (an unpaid balance)", "Pay the outstanding balance in the ad account's Billing settings."),
    7: ("pending a risk review", "Wait for Facebook's review to finish, or contact Facebook support."),
    8: ("pending settlement", "Settle the balance in the ad account's Billing settings."),
    9: ("in its grace period", "Update the payment method in the ad account's Billing settings."),
    100: ("pending closure", "Reopen the ad account in Business Manager, or choose another ad account."),
    101: ("closed", "Choose another ad account, or reopen this one in Business Manager."),
}


class ProblemCode:
    """What `FacebookConnection.problem_code` holds; empty means no problem."""

    AD_ACCOUNT_NOT_CHOSEN = "ad_account_not_chosen"
    NOT_CHECKED = "not_checked"
    DISCONNECTED = "disconnected"
    TOKEN_INVALID = "token_invalid"  # noqa: S105 - a problem name, not a secret
    TOKEN_EXPIRED = "token_expired"  # noqa: S105
    WRONG_APP = "wrong_app"
    SCOPE_MISSING = "scope_missing"
    AD_ACCOUNT_UNREADABLE = "ad_account_unreadable"
    AD_ACCOUNT_INACTIVE = "ad_account_inactive"
    NO_BUSINESS_MANAGER = "no_business_manager"
    PERMISSION_MISSING = "permission_missing"
    TERMS_NOT_ACCEPTED = "terms_not_accepted"
    FACEBOOK_REFUSED = "facebook_refused"


@dataclass(frozen=True)
class ConnectionProblem:
    code: str
    message: str
    fix: str


AD_ACCOUNT_NOT_CHOSEN = ConnectionProblem(
    ProblemCode.AD_ACCOUNT_NOT_CHOSEN,
    "Connected to Facebook, but no ad account is chosen yet.",
    "Choose the ad account this project syncs audiences to.",
)


NOT_CHECKED = ConnectionProblem(
    ProblemCode.NOT_CHECKED,
    "A new token was saved; Facebook could not be asked yet whether everything is in order.",
    "Click Check again in a moment.",
)
# Steps of connecting rather than problems found: clearing them is not worth an audit event.
SETUP_CODES = frozenset({ProblemCode.AD_ACCOUNT_NOT_CHOSEN, ProblemCode.NOT_CHECKED})


def person_words(connection: FacebookConnection) -> str:
    if connection.token_source == FacebookConnection.TokenSource.SYSTEM_USER:
        return "the system user whose token was pasted"
    name = connection.facebook_user_name or "the person who connected"
    return f"{name} (the Facebook person who connected)"


def expiry_warning(expires_at: datetime | None, *, now: datetime | None = None) -> str | None:
    """The warning shown from 7 days before the token expires (None when not due)."""
    if expires_at is None:
        return None
    now = now or timezone.now()
    if expires_at <= now or expires_at - now > timedelta(days=EXPIRY_WARNING_DAYS):
        return None
    days = (expires_at - now).days
    when = "within a day" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
    return (
        f"The Facebook token expires {when} ({expires_at:%Y-%m-%d %H:%M} UTC). Reconnect before then, "
        "or paste a Business Manager system-user token, which does not expire."
    )


def disconnected_problem(who: str) -> ConnectionProblem:
    return ConnectionProblem(
        ProblemCode.DISCONNECTED,
        f"Disconnected by {who} on {timezone.now():%Y-%m-%d %H:%M} UTC; the token was erased.",
        "Reconnect (Continue with Facebook, or paste a system-user token) to resume this ad account's syncs.",
    )


def token_expired_problem(expired_at: datetime | None) -> ConnectionProblem:
    when = f" on {expired_at:%Y-%m-%d %H:%M} UTC" if expired_at else ""
    return ConnectionProblem(
        ProblemCode.TOKEN_EXPIRED,
        f"The Facebook token expired{when}; syncs on this ad account cannot run.",
        "Reconnect (Continue with Facebook), or paste a Business Manager system-user token, which does not expire.",
    )


def token_invalid_problem(connection: FacebookConnection, detail: str | None = None) -> ConnectionProblem:
    said = f" Facebook said: {detail}" if detail else ""
    return ConnectionProblem(
        ProblemCode.TOKEN_INVALID,
        "Facebook no longer accepts the saved token (access was revoked, the app was removed, "
        f"or the password of {person_words(connection)} changed).{said}",
        "Reconnect (Continue with Facebook), as the same person or as another person who manages this ad account.",
    )


WRONG_APP = ConnectionProblem(
    ProblemCode.WRONG_APP,
    "The token belongs to another Facebook app than this tool's.",
    "Generate the system-user token for this tool's app (Business settings > System users > Generate new token, "
    "choosing this app), then paste it again.",
)


def scope_missing_problem(missing: list[str]) -> ConnectionProblem:
    names = " and ".join(missing)
    return ConnectionProblem(
        ProblemCode.SCOPE_MISSING,
        f"Facebook did not grant the {names} permission{'s' if len(missing) > 1 else ''} this tool needs "
        "to manage custom audiences.",
        f"Reconnect (Continue with Facebook) and leave {names} switched on in Facebook's dialog "
        "(for a system-user token: generate a new one with these permissions).",
    )


def optional_scope_warning(missing: list[str]) -> str:
    return (
        f"The {', '.join(missing)} permission was not granted: the ad spend import will not work "
        "until someone reconnects and allows it."
    )


def ad_account_unreadable_problem(connection: FacebookConnection, detail: str) -> ConnectionProblem:
    return ConnectionProblem(
        ProblemCode.AD_ACCOUNT_UNREADABLE,
        f"{_capital(person_words(connection))} cannot open ad account {connection.ad_account_id}: {detail}",
        "Ask an admin of the ad account to give this person access to it (Business settings > Ad accounts > "
        "Add people), or reconnect as someone who has access.",
    )


def ad_account_inactive_problem(account_label: str, account_status: int) -> ConnectionProblem:
    words, fix = ACCOUNT_STATUS_WORDS.get(
        account_status,
        (f"not active (status {account_status})", "Check the ad account's status in Business Manager."),
    )
    return ConnectionProblem(
        ProblemCode.AD_ACCOUNT_INACTIVE,
        f"Ad account {account_label} is {words}; Facebook refuses audience changes on it.",
        fix,
    )


def no_business_manager_problem(account_label: str) -> ConnectionProblem:
    return ConnectionProblem(
        ProblemCode.NO_BUSINESS_MANAGER,
        f"Ad account {account_label} is not part of a Business Manager; Facebook only accepts "
        "customer-list audiences from ad accounts in one.",
        NoBusinessManager.default_fix,
    )


def permission_problem(connection: FacebookConnection, account_label: str) -> ConnectionProblem:
    return ConnectionProblem(
        ProblemCode.PERMISSION_MISSING,
        f"{_capital(person_words(connection))} may not manage audiences of ad account {account_label}.",
        "Ask an admin of the ad account to give this person the Advertiser or Admin role on it "
        "(Business settings > Ad accounts > Assign people, 'Manage campaigns'), then click Check again; "
        "or reconnect as someone who has that role.",
    )


def terms_problem(connection: FacebookConnection, ad_account_id: str, account_name: str = "") -> ConnectionProblem:
    link = terms_acceptance_url(ad_account_id)
    if connection.token_source == FacebookConnection.TokenSource.SYSTEM_USER:
        fix = (
            f"Open {link} logged in as an admin of the Business Manager that owns the system user, "
            "accept the Custom Audience Terms, then click Check again."
        )
    else:
        fix = (
            f"{_capital(person_words(connection))} must accept them personally: open {link} while logged in to "
            "Facebook as that person, accept the Custom Audience Terms, then click Check again "
            "(or reconnect as someone who has accepted them)."
        )
    return ConnectionProblem(
        ProblemCode.TERMS_NOT_ACCEPTED,
        f"Facebook's Custom Audience Terms are not accepted for ad account {account_name or ad_account_id}.",
        fix,
    )


def problem_from_error(error: GraphError, connection: FacebookConnection) -> ConnectionProblem:
    """A permanent Graph error met while checking (or syncing), in the same plain words."""
    if isinstance(error, TokenInvalid):
        if error.subcode == TOKEN_EXPIRED_SUBCODE:
            return token_expired_problem(None)
        return token_invalid_problem(connection, error.message)
    account_id = getattr(error, "ad_account_id", None) or connection.ad_account_id
    if isinstance(error, TermsNotAccepted) and account_id:
        return terms_problem(connection, account_id, connection.ad_account_name)
    if isinstance(error, NoBusinessManager):
        return no_business_manager_problem(connection.ad_account_name or connection.ad_account_id)
    if isinstance(error, PermissionMissing):
        if error.fix == PermissionMissing.default_fix:
            return permission_problem(connection, connection.ad_account_name or connection.ad_account_id)
        return ConnectionProblem(ProblemCode.PERMISSION_MISSING, f"Facebook refused: {error.message}", error.fix)
    return ConnectionProblem(ProblemCode.FACEBOOK_REFUSED, f"Facebook refused the check: {error.message}", error.fix)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]

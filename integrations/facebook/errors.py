"""Typed Graph API errors, mapped once from Meta's error envelope and from transport failures.

Meta's envelope (https://developers.facebook.com/docs/graph-api/guides/error-handling):
`{"error": {"message", "type", "code", "error_subcode", "error_user_title",
"error_user_msg", "fbtrace_id", "is_transient"}}`. Throttling often arrives with HTTP
400, so classification goes by `code`/`error_subcode` first and HTTP status last.
Codes and their meaning: /work/shared/docs/facebook-marketing-api.md, section 4.

Every error knows:
- `permanent`: the run must stop until a person fixes something (`fix` says what);
- `retryable`: the retry policy may resend the very same request after a wait;
- `fix`: one line a person can act on.
`PayloadTooLarge` is neither: the caller splits the batch and resends the halves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from integrations.facebook.endpoints import ad_account_digits, terms_acceptance_url
from integrations.facebook.usage import Usage

# When a throttle names no wait, assume this one (seconds). Meta's own guidance is
# "back off"; a minute lets a per-hour BUC bucket drain noticeably.
DEFAULT_THROTTLE_SECONDS = 60.0


class GraphError(Exception):
    permanent: ClassVar[bool] = True
    retryable: ClassVar[bool] = False
    default_fix: ClassVar[str] = "Facebook refused the request; see the message and fbtrace_id."

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        error_type: str | None = None,
        user_title: str | None = None,
        user_msg: str | None = None,
        fbtrace_id: str | None = None,
        http_status: int | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.error_type = error_type
        self.user_title = user_title
        self.user_msg = user_msg
        self.fbtrace_id = fbtrace_id
        self.http_status = http_status
        self.fix = fix or self.default_fix
        # Filled in by the retry loop: how many HTTP attempts this call made.
        self.attempts = 1

    def __str__(self) -> str:
        parts = [self.message]
        if self.code is not None:
            parts.append(f"code {self.code}" + (f"/{self.subcode}" if self.subcode else ""))
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.fbtrace_id:
            parts.append(f"fbtrace_id {self.fbtrace_id}")
        return " | ".join(parts)

    @property
    def kind(self) -> str:
        """A stable machine name for records: `terms_not_accepted`, `rate_limited`..."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower()


class TermsNotAccepted(GraphError):
    default_fix = "Accept Facebook's Custom Audience Terms for this ad account, then check the connection again."

    def __init__(self, message: str, *, ad_account_id: str | None = None, **kwargs: Any) -> None:
        self.ad_account_id = ad_account_id
        self.acceptance_url = terms_acceptance_url(ad_account_id) if ad_account_id else None
        if self.acceptance_url and not kwargs.get("fix"):
            kwargs["fix"] = (
                f"Open {self.acceptance_url} logged in as the person who connected Facebook, "
                "accept the Custom Audience Terms, then check the connection again."
            )
        super().__init__(message, **kwargs)


class NoBusinessManager(GraphError):
    default_fix = (
        "Add this ad account to a Business Manager (business.facebook.com > Business settings > "
        "Accounts > Ad accounts), then check the connection again."
    )


class PermissionMissing(GraphError):
    default_fix = (
        "Ask an admin of the ad account to give the connecting person the Advertiser or Admin role, "
        "or reconnect as someone who has it."
    )


class TokenInvalid(GraphError):
    default_fix = "Reconnect Facebook: the saved token is no longer valid."


class Transient(GraphError):
    permanent = False
    retryable = True
    default_fix = "Facebook had a temporary problem; the call is retried automatically."

    def __init__(self, message: str, *, request_sent: bool = True, **kwargs: Any) -> None:
        # False only when the request provably never reached Facebook (connection
        # refused, connect timeout): then even a non-idempotent call may be resent.
        self.request_sent = request_sent
        super().__init__(message, **kwargs)


class MalformedResponse(Transient):
    """Facebook (or a proxy) answered with something that is not a Graph JSON answer."""

    default_fix = "Facebook's answer was cut off or not JSON; the call is retried automatically."


class RateLimited(GraphError):
    permanent = False
    retryable = True
    default_fix = "Facebook is throttling this ad account; syncs on it wait and resume on their own."

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        # Seconds to wait, from `estimated_time_to_regain_access` (minutes) when Meta
        # gave one, else DEFAULT_THROTTLE_SECONDS; `retry_after_known` tells which.
        self.retry_after_known = bool(retry_after and retry_after > 0)
        self.retry_after = float(retry_after) if self.retry_after_known else DEFAULT_THROTTLE_SECONDS
        super().__init__(message, **kwargs)


class AudienceGone(GraphError):
    default_fix = (
        "The audience was deleted at Facebook or is no longer shared with this ad account: "
        "recreate it, or choose another audience."
    )


class AudienceFlagged(GraphError):
    default_fix = (
        "Facebook blocked changes to this audience (integrity review): resolve it in Audience Manager "
        "or sync into a new audience."
    )


class PayloadTooLarge(GraphError):
    permanent = False
    retryable = False
    default_fix = "The request was too large for Facebook; the batch is split and resent automatically."


class InvalidRequest(GraphError):
    default_fix = (
        "Facebook refused the request as invalid. This is a bug in the tool or its data: report it with the fbtrace_id."
    )


class UploadSessionRejected(InvalidRequest):
    """An upload session's batches arrived out of order or after it ended (2650/1870147)."""

    default_fix = "The upload session was refused; the next run starts a fresh session."


# --- Classification -------------------------------------------------------------------

TOKEN_CODES = frozenset({102, 190})
THROTTLE_CODES = frozenset({4, 17, 32, 341, 613}) | frozenset(range(80000, 80015))
TRANSIENT_CODES = frozenset({1, 2})
PERMISSION_CODES = frozenset({10, 3}) | frozenset(range(200, 300))
TERMS_CODES = frozenset({2655, 2663})
GONE_CODES = frozenset({1487366, 1487301})
FLAGGED_SUBCODE = 1713230
OBJECT_MISSING = (100, 33)
PAYLOAD_CODES = frozenset({105})
DEPRECATED_VERSION_CODE = 2635
POLICY_BLOCK_CODE = 368
SESSION_SUBCODES = frozenset({1870147})

_TERMS_TEXT = re.compile(r"terms of service|terms of use|\btos\b|customaudiences/(?:app/)?tos", re.I)
_TOS_ACT = re.compile(r"[?&]act=(\d+)")
_BUSINESS_TEXT = re.compile(r"business manager", re.I)
_APP_CREDENTIALS_TEXT = re.compile(r"client secret|appsecret_proof|invalid application id", re.I)
_TOO_MUCH_DATA_TEXT = re.compile(
    r"reduce the amount of data|request (?:body )?(?:is )?too large|payload too large", re.I
)

_TOKEN_FIXES = {
    458: "The app was removed from the connecting person's Facebook account: reconnect Facebook.",
    459: "The connecting person must log in at facebook.com and clear the security checkpoint, then reconnect.",
    460: "The connecting person changed their Facebook password: reconnect Facebook.",
    463: "The Facebook token expired: reconnect Facebook (or paste a new system-user token).",
    464: "The connecting person must confirm their Facebook account at facebook.com, then reconnect.",
    467: "The Facebook token is no longer valid: reconnect Facebook.",
}


@dataclass(frozen=True)
class CallContext:
    """What a call was about, so one code can map to the error a person understands."""

    ad_account_id: str | None = None
    audience_id: str | None = None

    @property
    def is_audience_call(self) -> bool:
        return self.audience_id is not None


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def error_from_envelope(
    envelope: Mapping[str, Any],
    *,
    http_status: int | None,
    headers: Mapping[str, str] | None = None,
    context: CallContext | None = None,
) -> GraphError:
    """Turn Meta's `{"error": {...}}` body into the matching typed error."""
    context = context or CallContext()
    raw = envelope.get("error")
    body: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {"message": str(raw)}
    code = _as_int(body.get("code"))
    subcode = _as_int(body.get("error_subcode"))
    message = str(body.get("message") or "Facebook returned an error without a message.")
    user_msg = body.get("error_user_msg")
    text = " ".join(str(part) for part in (message, body.get("error_user_title"), user_msg) if part)
    common: dict[str, Any] = {
        "code": code,
        "subcode": subcode,
        "error_type": body.get("type"),
        "user_title": body.get("error_user_title"),
        "user_msg": user_msg,
        "fbtrace_id": body.get("fbtrace_id") or (headers or {}).get("x-fb-trace-id"),
        "http_status": http_status,
    }

    if code in TOKEN_CODES:
        return TokenInvalid(message, fix=_TOKEN_FIXES.get(subcode or 0), **common)
    if code in THROTTLE_CODES or http_status == 429:
        usage = Usage.from_headers(headers or {})
        return RateLimited(message, retry_after=usage.regain_access_seconds(), **common)
    if _is_terms_error(code, text):
        act = _TOS_ACT.search(text)
        account = act.group(1) if act else context.ad_account_id
        return TermsNotAccepted(message, ad_account_id=_digits_or_none(account), **common)
    if subcode == FLAGGED_SUBCODE or code == FLAGGED_SUBCODE:
        return AudienceFlagged(message, **common)
    if code in GONE_CODES or subcode in GONE_CODES:
        return AudienceGone(message, **common)
    if (code, subcode) == OBJECT_MISSING:
        if context.is_audience_call:
            return AudienceGone(message, **common)
        return PermissionMissing(
            message,
            fix=(
                "This connection cannot read the ad account: check that the connecting person "
                "still has access to it, or choose another ad account."
            ),
            **common,
        )
    if _BUSINESS_TEXT.search(text) and code not in PERMISSION_CODES:
        return NoBusinessManager(message, **common)
    if code in PERMISSION_CODES:
        return PermissionMissing(message, fix=_permission_fix(code, text), **common)
    if _APP_CREDENTIALS_TEXT.search(text):
        # Meta answers a wrong client secret with code 1, which would otherwise read as transient.
        return InvalidRequest(
            message,
            fix="Facebook refused the app's credentials: check FACEBOOK_APP_ID and FACEBOOK_APP_SECRET.",
            **common,
        )
    if code in PAYLOAD_CODES or http_status == 413 or _TOO_MUCH_DATA_TEXT.search(text):
        return PayloadTooLarge(message, **common)
    if subcode in SESSION_SUBCODES:
        return UploadSessionRejected(message, **common)
    if code in TRANSIENT_CODES or body.get("is_transient") is True:
        return Transient(message, **common)
    if code == DEPRECATED_VERSION_CODE:
        return InvalidRequest(
            message,
            fix=(
                "This Graph API version is no longer served: set FACEBOOK_GRAPH_VERSION "
                "to a current version (e.g. v25.0)."
            ),
            **common,
        )
    if code == POLICY_BLOCK_CODE:
        return InvalidRequest(
            message,
            fix=(
                "Facebook temporarily blocked this action for policy reasons: check the ad account's "
                "status in Business Manager and try later."
            ),
            **common,
        )
    if http_status is not None and http_status >= 500:
        return Transient(message, **common)
    return InvalidRequest(message, **common)


def _digits_or_none(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return ad_account_digits(value)
    except ValueError:
        return None


def _is_terms_error(code: int | None, text: str) -> bool:
    # 2655 and 2663 are the ToS codes in the wild, but RudderStack labels 2655 a
    # different ToS; require the text to speak of terms too, and accept any code whose
    # text carries the Custom Audience Terms link.
    mentions_terms = bool(_TERMS_TEXT.search(text))
    names_terms_link = "customaudiences" in text.lower() and "tos" in text.lower()
    return (code in TERMS_CODES and mentions_terms) or names_terms_link


def _permission_fix(code: int | None, text: str) -> str:
    lowered = text.lower()
    if code == 294 or "ads_management" in lowered or code == 10:
        return (
            "Reconnect Facebook and grant the ads_management permission "
            "(the app itself also needs Marketing API access)."
        )
    return PermissionMissing.default_fix


def error_from_status(
    http_status: int,
    *,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> GraphError:
    """An HTTP failure whose body carries no Graph envelope (a proxy page, an empty body)."""
    trace = (headers or {}).get("x-fb-trace-id")
    if http_status == 429:
        usage = Usage.from_headers(headers or {})
        return RateLimited(
            message, retry_after=usage.regain_access_seconds(), http_status=http_status, fbtrace_id=trace
        )
    if http_status == 413:
        return PayloadTooLarge(message, http_status=http_status, fbtrace_id=trace)
    if http_status == 401:
        return TokenInvalid(message, http_status=http_status, fbtrace_id=trace)
    if http_status >= 500 or http_status == 408:
        return Transient(message, http_status=http_status, fbtrace_id=trace)
    if 400 <= http_status < 500:
        # Not Facebook speaking (no envelope): most likely a wrong FACEBOOK_GRAPH_URL.
        return InvalidRequest(
            message,
            http_status=http_status,
            fbtrace_id=trace,
            fix="The server answered without a Graph error: check FACEBOOK_GRAPH_URL and FACEBOOK_GRAPH_VERSION.",
        )
    return MalformedResponse(message, http_status=http_status, fbtrace_id=trace)

"""Meta's error envelope, as the sandbox answers it.

Codes and texts follow /work/shared/docs/facebook-marketing-api.md section 4. Where Meta's
exact answer is not documented (marked UNVERIFIED) the sandbox picks a plausible code
and puts the decisive words in the message, because the client matches text too.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

OBJECT_MISSING_TEXT = (
    "Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be loaded due to "
    "missing permissions, or does not support this operation. Please read the Graph API documentation at "
    "https://developers.facebook.com/docs/graph-api"
)


def new_trace_id() -> str:
    return secrets.token_urlsafe(8)


@dataclass
class GraphRefusal(Exception):
    """Raised anywhere in a sandbox view; answered as Meta's envelope."""

    message: str
    code: int
    http_status: int = 400
    subcode: int | None = None
    error_type: str = "OAuthException"
    user_title: str | None = None
    user_msg: str | None = None
    is_transient: bool | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def envelope(self, trace_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.error_type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.is_transient is not None:
            error["is_transient"] = self.is_transient
        if self.user_title:
            error["error_user_title"] = self.user_title
        if self.user_msg:
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = trace_id
        return {"error": error}


# --- Requests and tokens ----------------------------------------------------------------


def deprecated_version(version: str, oldest: str) -> GraphRefusal:
    return GraphRefusal(
        f"(#2635) You are calling a deprecated version of the Ads API ({version}). "
        f"Please update to the latest version: {oldest} or newer.",
        code=2635,
    )


def unknown_path(path: str) -> GraphRefusal:
    return GraphRefusal(f"Unknown path components: /{path}", code=2500)


def object_missing(method: str, object_id: str) -> GraphRefusal:
    return GraphRefusal(
        OBJECT_MISSING_TEXT.format(method=method.lower(), object_id=object_id),
        code=100,
        subcode=33,
        error_type="GraphMethodException",
    )


def invalid_parameter(detail: str, *, code: int = 100) -> GraphRefusal:
    return GraphRefusal(f"(#{code}) {detail}", code=code)


def nonexisting_field(field_name: str, node_type: str) -> GraphRefusal:
    return GraphRefusal(f"(#100) Tried accessing nonexisting field ({field_name}) on node type ({node_type})", code=100)


def token_required() -> GraphRefusal:
    return GraphRefusal("An access token is required to request this resource.", code=104)


def token_unparseable() -> GraphRefusal:
    return GraphRefusal("Invalid OAuth access token - Cannot parse access token", code=190)


def token_expired(expired_on: str, now: str) -> GraphRefusal:
    return GraphRefusal(
        f"Error validating access token: Session has expired on {expired_on}. The current time is {now}.",
        code=190,
        subcode=463,
    )


def token_revoked(subcode: int, app_id: str) -> GraphRefusal:
    texts = {
        458: f"Error validating access token: The user has not authorized application {app_id}.",
        459: "Error validating access token: You cannot access the app till you log in to www.facebook.com "
        "and follow the instructions given.",
        460: "Error validating access token: The session has been invalidated because the user changed their "
        "password or Facebook has changed the session for security reasons.",
    }
    return GraphRefusal(texts.get(subcode, "Error validating access token."), code=190, subcode=subcode)


def user_token_needed() -> GraphRefusal:
    return GraphRefusal("An active access token must be used to query information about the current user.", code=2500)


def appsecret_proof_invalid() -> GraphRefusal:
    return GraphRefusal(
        "Invalid appsecret_proof provided in the API argument", code=100, error_type="GraphMethodException"
    )


def appsecret_proof_missing() -> GraphRefusal:
    return GraphRefusal(
        "API calls from the server require an appsecret_proof argument", code=100, error_type="GraphMethodException"
    )


def permission_required(permission: str) -> GraphRefusal:
    return GraphRefusal(f"(#200) Requires {permission} permission to manage the object", code=200, http_status=403)


# --- Ad accounts: the three common errors ------------------------------------------------


def cannot_update_audience(audience_id: str) -> GraphRefusal:
    return GraphRefusal(f"(#200) The current user can not update audience {audience_id}", code=200, http_status=403)


def cannot_create_audience(act_id: str) -> GraphRefusal:
    # UNVERIFIED wording; Meta answers #200 for missing ad account rights.
    return GraphRefusal(
        f"(#200) The current user can not create custom audiences on ad account {act_id}: "
        "an Admin or Advertiser role on the ad account is required",
        code=200,
        http_status=403,
    )


def terms_not_accepted(account_digits: str, *, code: int) -> GraphRefusal:
    return GraphRefusal(
        f"(#{code}) Terms of service has not been accepted. To accept, go to "
        f"https://www.facebook.com/customaudiences/app/tos/?act={account_digits}",
        code=code,
        error_type="OAuthException",
        user_title="Custom Audience Terms Not Accepted",
        user_msg="You need to accept the Custom Audience Terms before you can create or edit this audience.",
    )


def no_business_manager(act_id: str, *, creating: bool) -> GraphRefusal:
    # UNVERIFIED code (2654 is Meta's "Failed to create custom audience", 2650 "Failed to
    # update the custom audience"); the client recognises the words "Business Manager".
    code, what = (2654, "create custom audience") if creating else (2650, "update the custom audience")
    return GraphRefusal(
        f"(#{code}) Failed to {what}: ad account {act_id} is not in a Business Manager. Customer list custom "
        "audiences need an ad account that belongs to a Business Manager.",
        code=code,
    )


# --- Audiences ---------------------------------------------------------------------------


def audience_deleted() -> GraphRefusal:
    return GraphRefusal(
        "Custom Audience Has Been Deleted",
        code=100,
        subcode=1487366,
        user_title="Custom Audience Has Been Deleted",
        user_msg="This audience has been deleted and can't be edited.",
    )


def audience_flagged() -> GraphRefusal:
    return GraphRefusal(
        "Audience Upload Blocked",
        code=100,
        subcode=1713230,
        user_title="Audience Upload Blocked",
        user_msg="This audience has been flagged for integrity restrictions; it can't be edited until resolved.",
    )


def too_many_rows(count: int, limit: int) -> GraphRefusal:
    return GraphRefusal(
        f"(#105) The number of parameters exceeded the maximum for this operation: {count} rows, at most {limit}",
        code=105,
    )


def body_too_large() -> GraphRefusal:
    # UNVERIFIED: Meta's generic answer for oversized requests (code 1).
    return GraphRefusal(
        "Please reduce the amount of data you're asking for, then retry your request", code=1, http_status=413
    )


def batch_out_of_order(detail: str) -> GraphRefusal:
    return GraphRefusal(
        f"(#2650) Failed to update the custom audience: {detail}",
        code=2650,
        subcode=1870147,
        user_title="Invalid Upload Batch",
        user_msg=detail,
    )


# --- Faults --------------------------------------------------------------------------------


def server_error() -> GraphRefusal:
    return GraphRefusal(
        "An unexpected error has occurred. Please retry your request later.",
        code=2,
        http_status=500,
        is_transient=True,
    )


THROTTLE_TEXTS = {
    80003: (None, "There have been too many calls to this ad-account. Wait a bit and try again."),
    80004: (None, "There have been too many calls to this ad-account. Wait a bit and try again."),
    80000: (None, "There have been too many calls from this ad-account. Wait a bit and try again."),
    613: (1487742, "There have been too many calls from this ad-account. Wait a bit and try again."),
    17: (2446079, "User request limit reached"),
    4: (None, "Application request limit reached"),
}


def throttled(code: int, headers: dict[str, str]) -> GraphRefusal:
    subcode, text = THROTTLE_TEXTS.get(code, THROTTLE_TEXTS[80003])
    return GraphRefusal(f"(#{code}) {text}", code=code, subcode=subcode, headers=headers)

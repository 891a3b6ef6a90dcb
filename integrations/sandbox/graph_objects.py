"""How sandbox objects look in Graph answers, field by field (only the fields asked for)."""

from __future__ import annotations

from typing import Any

from integrations.sandbox import selectors
from integrations.sandbox.models import SandboxAdAccount, SandboxAdAccountRole, SandboxAudience, SandboxUploadSession

AD_ACCOUNT_FIELDS = frozenset(
    {
        "id",
        "account_id",
        "name",
        "account_status",
        "business",
        "tos_accepted",
        "user_tos_accepted",
        "currency",
        "timezone_name",
        "disable_reason",
        "capabilities",
        "user_tasks",
    }
)
# Meta's AdAccount.user_tasks: what the token's person may do on the account. Managing
# custom audiences needs MANAGE or ADVERTISE; an analyst only has ANALYZE.
USER_TASKS_BY_ROLE = {
    "admin": ["MANAGE", "ADVERTISE", "ANALYZE"],
    "advertiser": ["ADVERTISE", "ANALYZE"],
    "analyst": ["ANALYZE"],
}
AUDIENCE_FIELDS = frozenset(
    {
        "id",
        "name",
        "description",
        "subtype",
        "customer_file_source",
        "approximate_count_lower_bound",
        "approximate_count_upper_bound",
        "operation_status",
        "delivery_status",
        "account_id",
        "data_source",
        "time_created",
        "time_updated",
        "time_content_updated",
        "retention_days",
        "is_value_based",
        "permission_for_actions",
    }
)
SESSION_FIELDS = frozenset(
    {"session_id", "start_time", "end_time", "num_received", "num_invalid_entries", "num_matched", "progress", "stage"}
)

OPERATION_NORMAL = {"code": 200, "description": "Normal"}
OPERATION_PROCESSING = {"code": 441, "description": "We're finding people who match your audience's updates."}
OPERATION_FLAGGED = {
    "code": 471,
    "description": "This audience has been flagged for integrity restrictions and can't be edited until resolved.",
}
DELIVERY_READY = {"code": 200, "description": "This audience is ready for use."}
DELIVERY_TOO_SMALL = {"code": 300, "description": "This audience is too small to use: fewer than 100 people matched."}
DELIVERY_UNAVAILABLE = {"code": 400, "description": "This audience is unavailable: it has been flagged."}


def ad_account_json(account: SandboxAdAccount, role: SandboxAdAccountRole, fields: dict[str, list[str]]) -> dict:
    terms = {"custom_audience_tos": 1 if role.terms_accepted else 0}
    values: dict[str, Any] = {
        "id": account.act_id,
        "account_id": account.account_id,
        "name": account.name,
        "account_status": account.account_status,
        "tos_accepted": terms,
        "user_tos_accepted": terms,
        "currency": account.currency,
        "timezone_name": account.timezone_name,
        "disable_reason": 0,
        "capabilities": [],
        "user_tasks": USER_TASKS_BY_ROLE.get(role.role, []),
    }
    out = {name: values[name] for name in fields if name != "business"}
    if "business" in fields and account.business is not None:
        # Meta leaves `business` out entirely when the account has none.
        business = {"id": account.business.fb_id, "name": account.business.name}
        wanted = fields["business"] or ["id", "name"]
        out["business"] = {key: business[key] for key in wanted if key in business}
    if "id" not in out:
        out["id"] = account.act_id
    return out


def audience_json(audience: SandboxAudience, fields: dict[str, list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    size_fields = {"approximate_count_lower_bound", "approximate_count_upper_bound", "delivery_status", "data_source"}
    size = selectors.audience_size(audience=audience) if size_fields.intersection(fields) else None
    for name in fields:
        out[name] = _audience_value(audience, name, size)
    out.setdefault("id", audience.fb_id)
    return out


def _audience_value(audience: SandboxAudience, name: str, size: selectors.AudienceSize | None) -> Any:
    if name == "approximate_count_lower_bound":
        return size.bounds[0]
    if name == "approximate_count_upper_bound":
        return size.bounds[1]
    if name == "operation_status":
        if audience.flagged:
            return OPERATION_FLAGGED
        return OPERATION_PROCESSING if selectors.audience_has_open_session(audience=audience) else OPERATION_NORMAL
    if name == "delivery_status":
        if audience.flagged:
            return DELIVERY_UNAVAILABLE
        return DELIVERY_READY if size.matched >= selectors.MIN_DELIVERABLE else DELIVERY_TOO_SMALL
    if name == "data_source":
        if not size.rows:
            return {"type": "UNKNOWN", "sub_type": "ANYTHING", "creation_params": "[]"}
        return {"type": "FILE_IMPORTED", "sub_type": "MULTI_HASHES", "creation_params": "[]"}
    simple = {
        "id": audience.fb_id,
        "name": audience.name,
        "description": audience.description,
        "subtype": audience.subtype,
        "customer_file_source": audience.customer_file_source,
        "account_id": audience.ad_account.account_id,
        "time_created": int(audience.created_at.timestamp()),
        "time_updated": int(audience.updated_at.timestamp()),
        "time_content_updated": int(audience.updated_at.timestamp()),
        "retention_days": 0,
        "is_value_based": False,
        "permission_for_actions": {"can_edit": True, "can_see_insight": "True", "subtype_supports_lookalike": True},
    }
    return simple[name]


def session_json(session: SandboxUploadSession, fields: dict[str, list[str]]) -> dict[str, Any]:
    values = {
        "session_id": str(session.session_id),
        "start_time": int(session.started_at.timestamp()),
        "end_time": int(session.ended_at.timestamp()) if session.ended_at else 0,
        "num_received": session.num_received,
        "num_invalid_entries": session.num_invalid_entries,
        "num_matched": session.num_matched,
        "progress": 100 if session.closed else 50,
        "stage": "finished" if session.closed else "uploading",
    }
    return {name: values[name] for name in fields}

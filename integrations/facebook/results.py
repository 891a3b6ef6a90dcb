"""Small typed values the Graph client takes and returns.

Each result keeps Meta's `raw` answer too, so a caller needing a field we did not
model does not have to change the client.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# `operation_status` 471: audience flagged by integrity restrictions (since 2025-09-02).
OPERATION_STATUS_FLAGGED = 471


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _timestamp(value: Any) -> datetime | None:
    """Meta's unix seconds; 0 means "never" (e.g. a non-expiring system-user token)."""
    seconds = _int_or_none(value)
    if not seconds:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC)


# --- Uploads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SerializedRows:
    """Rows already serialised as one JSON array of arrays (`[["ab..","cd.."],...]`).

    The engine builds these while encoding, so a 10,000-row request costs no second
    serialisation pass. `count` is the number of rows in `json_text`.
    """

    json_text: str | bytes
    count: int

    def as_bytes(self) -> bytes:
        return self.json_text if isinstance(self.json_text, bytes) else self.json_text.encode("utf-8")


def new_session_id() -> int:
    """An advertiser-chosen upload session id: a random positive int64."""
    return secrets.randbits(62) + 1


@dataclass(frozen=True)
class UploadSession:
    """Meta's `session` object: batches of one logical upload, 1-based and in order."""

    session_id: int
    batch_seq: int
    last_batch_flag: bool
    estimated_num_total: int | None = None

    def as_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "session_id": self.session_id,
            "batch_seq": self.batch_seq,
            "last_batch_flag": self.last_batch_flag,
        }
        if self.estimated_num_total is not None:
            payload["estimated_num_total"] = self.estimated_num_total
        return payload


@dataclass(frozen=True)
class UploadResult:
    audience_id: str
    session_id: int | None
    num_received: int
    num_invalid_entries: int
    invalid_entry_samples: dict[str, Any]
    http_status: int
    fbtrace_id: str | None
    attempts: int
    duration: float  # seconds, all attempts and waits included


# --- Tokens -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessToken:
    access_token: str = field(repr=False)
    token_type: str = "bearer"  # noqa: S105 - a token kind, not a secret
    expires_in: int | None = None  # seconds; None when Meta gives none (does not expire)


@dataclass(frozen=True)
class TokenInfo:
    """`debug_token`'s `data`: whether a token works, for whom, until when, with what."""

    is_valid: bool
    app_id: str | None
    user_id: str | None
    scopes: list[str]
    expires_at: datetime | None
    data_access_expires_at: datetime | None
    token_type: str | None
    error_code: int | None
    error_subcode: int | None
    error_message: str | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_graph(cls, data: dict[str, Any]) -> TokenInfo:
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        return cls(
            is_valid=bool(data.get("is_valid")),
            app_id=str(data["app_id"]) if data.get("app_id") else None,
            user_id=str(data["user_id"]) if data.get("user_id") else None,
            scopes=[str(scope) for scope in data.get("scopes") or []],
            expires_at=_timestamp(data.get("expires_at")),
            data_access_expires_at=_timestamp(data.get("data_access_expires_at")),
            token_type=data.get("type"),
            error_code=_int_or_none(error.get("code")),
            error_subcode=_int_or_none(error.get("subcode")),
            error_message=error.get("message"),
            raw=data,
        )


# --- Ad accounts and audiences ---------------------------------------------------------------


@dataclass(frozen=True)
class AdAccount:
    id: str  # act_<digits>
    account_id: str  # <digits>
    name: str
    account_status: int | None
    business_id: str | None
    business_name: str | None
    currency: str | None
    timezone_name: str | None
    tos_accepted: dict[str, int]
    user_tos_accepted: dict[str, int]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_graph(cls, data: dict[str, Any]) -> AdAccount:
        business = data.get("business") if isinstance(data.get("business"), dict) else None
        account_id = str(data.get("account_id") or str(data.get("id", "")).removeprefix("act_"))
        return cls(
            id=str(data.get("id") or f"act_{account_id}"),
            account_id=account_id,
            name=str(data.get("name") or ""),
            account_status=_int_or_none(data.get("account_status")),
            business_id=str(business["id"]) if business and business.get("id") else None,
            business_name=business.get("name") if business else None,
            currency=data.get("currency"),
            timezone_name=data.get("timezone_name"),
            tos_accepted=dict(data.get("tos_accepted") or {}),
            user_tos_accepted=dict(data.get("user_tos_accepted") or {}),
            raw=data,
        )

    @property
    def is_active(self) -> bool:
        return self.account_status == 1

    @property
    def in_business_manager(self) -> bool:
        return self.business_id is not None

    @property
    def custom_audience_terms_accepted(self) -> bool:
        """Terms are accepted per person: prefer the connecting person's own map."""
        key = "custom_audience_tos"
        if key in self.user_tos_accepted:
            return bool(self.user_tos_accepted[key])
        return bool(self.tos_accepted.get(key))


@dataclass(frozen=True)
class StatusCode:
    """Meta's `{code, description}` status objects; read the description, codes vary."""

    code: int | None
    description: str

    @classmethod
    def from_graph(cls, value: Any) -> StatusCode | None:
        if not isinstance(value, dict):
            return None
        return cls(code=_int_or_none(value.get("code")), description=str(value.get("description") or ""))


@dataclass(frozen=True)
class Audience:
    id: str
    name: str
    description: str
    subtype: str | None
    customer_file_source: str | None
    approximate_count_lower_bound: int | None
    approximate_count_upper_bound: int | None
    operation_status: StatusCode | None
    delivery_status: StatusCode | None
    account_id: str | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_graph(cls, data: dict[str, Any]) -> Audience:
        return cls(
            id=str(data.get("id", "")),
            name=str(data.get("name") or ""),
            description=str(data.get("description") or ""),
            subtype=data.get("subtype"),
            customer_file_source=data.get("customer_file_source"),
            approximate_count_lower_bound=_int_or_none(data.get("approximate_count_lower_bound")),
            approximate_count_upper_bound=_int_or_none(data.get("approximate_count_upper_bound")),
            operation_status=StatusCode.from_graph(data.get("operation_status")),
            delivery_status=StatusCode.from_graph(data.get("delivery_status")),
            account_id=str(data["account_id"]) if data.get("account_id") else None,
            raw=data,
        )

    @property
    def is_flagged(self) -> bool:
        return bool(self.operation_status and self.operation_status.code == OPERATION_STATUS_FLAGGED)

    @property
    def size_label(self) -> str:
        """ "below 1,000", "12,000 - 14,100", or "unknown", the way Meta shows sizes."""
        lower, upper = self.approximate_count_lower_bound, self.approximate_count_upper_bound
        if upper is None or lower is None or upper < 0:
            return "unknown"
        if upper <= 1000:
            return "below 1,000"
        return f"{lower:,} - {upper:,}"


@dataclass(frozen=True)
class AudienceSession:
    session_id: int | None
    start_time: datetime | None
    end_time: datetime | None
    num_received: int | None
    num_invalid_entries: int | None
    num_matched: int | None
    progress: int | None
    stage: str | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_graph(cls, data: dict[str, Any]) -> AudienceSession:
        return cls(
            session_id=_int_or_none(data.get("session_id")),
            start_time=_timestamp(data.get("start_time")),
            end_time=_timestamp(data.get("end_time")),
            num_received=_int_or_none(data.get("num_received")),
            num_invalid_entries=_int_or_none(data.get("num_invalid_entries")),
            num_matched=_int_or_none(data.get("num_matched")),
            progress=_int_or_none(data.get("progress")),
            stage=data.get("stage"),
            raw=data,
        )


# --- Insights --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportRun:
    id: str
    async_status: str
    async_percent_completion: int

    @property
    def is_complete(self) -> bool:
        return self.async_status == "Job Completed"

    @property
    def is_failed(self) -> bool:
        return self.async_status in {"Job Failed", "Job Skipped"}

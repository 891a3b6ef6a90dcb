"""Meta's rate-limit usage headers, parsed.

https://developers.facebook.com/docs/graph-api/overview/rate-limiting
https://developers.facebook.com/docs/marketing-api/overview/rate-limiting

- `X-App-Usage`: `{"call_count": 12, "total_cputime": 4, "total_time": 3}` (percent).
- `X-Ad-Account-Usage`: `{"acc_id_util_pct": 9.6, "reset_time_duration": 0, ...}`
  (`reset_time_duration` in seconds).
- `X-Business-Use-Case-Usage`: `{"<business object id>": [{"type": "custom_audience",
  "call_count": 100, "total_cputime": 3, "total_time": 9,
  "estimated_time_to_regain_access": 2}]}`; the estimate is in MINUTES.

Parsing is tolerant: a header that is missing or not JSON is simply absent, because a
garbled usage header must never fail a call that otherwise succeeded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

APP_USAGE_HEADER = "X-App-Usage"
AD_ACCOUNT_USAGE_HEADER = "X-Ad-Account-Usage"
BUSINESS_USE_CASE_USAGE_HEADER = "X-Business-Use-Case-Usage"

_PERCENT_KEYS = ("call_count", "total_cputime", "total_time", "acc_id_util_pct")


def _json_object(raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


@dataclass(frozen=True)
class Usage:
    app: dict[str, Any] | None = None
    ad_account: dict[str, Any] | None = None
    business_use_case: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Usage:
        buc = _json_object(headers.get(BUSINESS_USE_CASE_USAGE_HEADER)) or {}
        buc_lists = {
            str(key): [entry for entry in entries if isinstance(entry, dict)]
            for key, entries in buc.items()
            if isinstance(entries, list)
        }
        return cls(
            app=_json_object(headers.get(APP_USAGE_HEADER)),
            ad_account=_json_object(headers.get(AD_ACCOUNT_USAGE_HEADER)),
            business_use_case=buc_lists,
        )

    @property
    def is_empty(self) -> bool:
        return self.app is None and self.ad_account is None and not self.business_use_case

    def regain_access_seconds(self) -> float:
        """The longest wait any header announces, in seconds (0 when none does)."""
        minutes = [
            _number(entry.get("estimated_time_to_regain_access"))
            for entries in self.business_use_case.values()
            for entry in entries
        ]
        waits = [m * 60.0 for m in minutes]
        if self.ad_account:
            waits.append(_number(self.ad_account.get("reset_time_duration")))
        return max(waits, default=0.0)

    def max_percent(self) -> float:
        """The highest usage percentage across all headers (100 means throttled)."""
        values: list[float] = []
        for blob in (self.app, self.ad_account):
            if blob:
                values.extend(_number(blob.get(key)) for key in _PERCENT_KEYS if key in blob)
        for entries in self.business_use_case.values():
            for entry in entries:
                values.extend(_number(entry.get(key)) for key in _PERCENT_KEYS if key in entry)
        return max(values, default=0.0)

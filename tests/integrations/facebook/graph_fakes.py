"""Canned Graph answers and an instant clock for the client tests."""

from __future__ import annotations

import json
from typing import Any

from integrations.facebook.client import GraphClient
from integrations.facebook.retry import RetryPolicy

GRAPH = "https://graph.facebook.com/v25.0"
TOKEN = "EAAtesttoken123"
APP_SECRET = "app-secret"
AD_ACCOUNT = "act_123"
AUDIENCE_ID = "6000000000001"


class FakeClock:
    """`sleep` advances `now`; tests wait for nothing and can read every delay."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_policy(clock: FakeClock, **overrides: Any) -> RetryPolicy:
    options: dict[str, Any] = {
        "max_attempts": 3,
        "max_total_seconds": 600.0,
        "base_delay": 1.0,
        "max_delay": 8.0,
        "max_throttle_wait": 300.0,
        "sleep": clock.sleep,
        "clock": clock.clock,
        "random": lambda: 0.5,
    }
    options.update(overrides)
    return RetryPolicy(**options)


def make_client(clock: FakeClock, **overrides: Any) -> GraphClient:
    options: dict[str, Any] = {
        "ad_account_id": AD_ACCOUNT,
        "base_url": "https://graph.facebook.com",
        "version": "v25.0",
        "app_secret": APP_SECRET,
        "timeout": (1.0, 5.0),
        "retry_policy": make_policy(clock),
    }
    options.update(overrides)
    return GraphClient(TOKEN, **options)


def envelope(code: int, message: str, *, subcode: int | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "TRACE1"}
    if subcode is not None:
        error["error_subcode"] = subcode
    error.update(extra)
    return {"error": error}


def buc_header(account: str, minutes: int) -> dict[str, str]:
    value = {
        account.removeprefix("act_"): [
            {
                "type": "custom_audience",
                "call_count": 100,
                "total_cputime": 20,
                "total_time": 30,
                "estimated_time_to_regain_access": minutes,
            }
        ]
    }
    return {"X-Business-Use-Case-Usage": json.dumps(value)}


AD_ACCOUNT_JSON = {
    "id": "act_123",
    "account_id": "123",
    "name": "Main account",
    "account_status": 1,
    "business": {"id": "900", "name": "Acme"},
    "tos_accepted": {"custom_audience_tos": 1},
    "user_tos_accepted": {"custom_audience_tos": 1},
    "currency": "EUR",
    "timezone_name": "Europe/Paris",
}
AUDIENCE_JSON = {
    "id": AUDIENCE_ID,
    "name": "Churn risk",
    "description": "",
    "subtype": "CUSTOM",
    "customer_file_source": "USER_PROVIDED_ONLY",
    "approximate_count_lower_bound": 12000,
    "approximate_count_upper_bound": 14100,
    "operation_status": {"code": 200, "description": "Normal"},
    "delivery_status": {"code": 200, "description": "This audience is ready for use."},
    "account_id": "123",
}
UPLOAD_JSON = {
    "audience_id": AUDIENCE_ID,
    "session_id": "42",
    "num_received": 2,
    "num_invalid_entries": 0,
    "invalid_entry_samples": {},
}
SESSION_JSON = {
    "session_id": "42",
    "start_time": 1767225600,
    "end_time": 1767225660,
    "num_received": 25000,
    "num_invalid_entries": 0,
    "num_matched": 17000,
    "progress": 100,
    "stage": "finished",
}
INSIGHT_ROW = {"campaign_id": "1", "spend": "12.30", "impressions": "1000", "date_start": "2026-01-01"}

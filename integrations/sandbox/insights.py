"""Extension point: the rows the sandbox answers for insights (issue 9 fills it in).

`GET act_<id>/insights`, the rows of an async report run (`GET <report_run_id>/insights`)
and its status all go through `insights_rows`. Until a provider is registered the
sandbox answers no rows, which is what Meta answers for an ad account without ads.

To add synthetic insights, register a provider once (e.g. in an AppConfig.ready):

    from integrations.sandbox import insights
    insights.insights_provider_set(my_rows)  # my_rows(ad_account, params) -> list[dict]

`params` holds the request's parameters as sent (`fields`, `level`, `time_range` (a
JSON string or dict), `time_increment`, `date_preset`, `breakdowns` ...). Rows look like
Meta's: strings for money and counts, `date_start`/`date_stop` per row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from integrations.sandbox.models import SandboxAdAccount

InsightsProvider = Callable[[SandboxAdAccount, dict[str, Any]], list[dict[str, Any]]]


def _no_rows(ad_account: SandboxAdAccount, params: dict[str, Any]) -> list[dict[str, Any]]:
    return []


_provider: InsightsProvider = _no_rows


def insights_provider_set(provider: InsightsProvider | None) -> None:
    """Register the function that makes insights rows (None restores "no rows")."""
    global _provider
    _provider = provider or _no_rows


def insights_rows(ad_account: SandboxAdAccount, params: dict[str, Any]) -> list[dict[str, Any]]:
    return _provider(ad_account, params)

"""The sandbox's insights: synthetic rows by default, async report runs that take a few polls.

`GET act_<id>/insights`, the rows of an async report run (`GET <report_run_id>/insights`)
and the run's status all go through here. By default the rows come from
`synthetic_ads` (deterministic campaigns, ad sets and ads per ad account, revised for
their first days); a test or demo may register its own provider instead:

    from integrations.sandbox import insights
    insights.insights_provider_set(my_rows)  # my_rows(ad_account, params) -> list[dict]
    insights.insights_provider_set(insights.no_rows)  # an ad account without ads
    insights.insights_provider_set(None)  # back to the synthetic rows

`params` holds the request's parameters as sent (`fields`, `level`, `time_range` (a
JSON string or dict), `time_increment`, `date_preset`, `breakdowns` ...). Rows look like
Meta's: strings for money and counts, `date_start`/`date_stop` per row.

Report runs (`POST act_<id>/insights`): each status read moves a run `REPORT_PERCENT_STEP`
percent further ("Job Running") until "Job Completed"; its rows can be read only then.
`report_runs_fail_next(ad_account_id=..., count=1, status="Job Failed"|"Job Skipped")`
makes the next runs of an ad account end that way instead. Progress lives in memory:
the sandbox is one process (`run_sandbox`, or the main server in development).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from integrations.sandbox import graph_errors as refuse
from integrations.sandbox import synthetic_ads
from integrations.sandbox.models import SandboxAdAccount, SandboxReportRun

InsightsProvider = Callable[[SandboxAdAccount, dict[str, Any]], list[dict[str, Any]]]

# Meta keeps 37 months of insights (error 3018 beyond).
HISTORY_DAYS = 37 * 31
LEVELS = ("account", "campaign", "adset", "ad")
LEVEL_KEYS = {
    "account": (),
    "campaign": ("campaign_id", "campaign_name"),
    "adset": ("campaign_id", "campaign_name", "adset_id", "adset_name"),
    "ad": ("campaign_id", "campaign_name", "adset_id", "adset_name", "ad_id", "ad_name"),
}
INSIGHTS_FIELDS = frozenset(
    {
        "account_id",
        "account_name",
        "account_currency",
        "campaign_id",
        "campaign_name",
        "adset_id",
        "adset_name",
        "ad_id",
        "ad_name",
        "spend",
        "impressions",
        "clicks",
        "reach",
        "actions",
        "cpm",
        "cpc",
        "ctr",
        "date_start",
        "date_stop",
    }
)
DEFAULT_FIELDS = ("spend", "impressions", "clicks")
# Meta's presets end yesterday, except `today`.
PRESET_DAYS = {"last_3d": 3, "last_7d": 7, "last_14d": 14, "last_28d": 28, "last_30d": 30, "last_90d": 90}

JOB_COMPLETED = "Job Completed"
JOB_RUNNING = "Job Running"
JOB_FAILED = "Job Failed"
JOB_SKIPPED = "Job Skipped"
REPORT_PERCENT_STEP = 40


# --- The provider hook ---------------------------------------------------------------------------


def no_rows(ad_account: SandboxAdAccount, params: dict[str, Any]) -> list[dict[str, Any]]:
    insights_params_parse(ad_account, params)
    return []


def synthetic_rows(ad_account: SandboxAdAccount, params: dict[str, Any]) -> list[dict[str, Any]]:
    query = insights_params_parse(ad_account, params)
    figures = synthetic_ads.daily_rows(ad_account, query.since, query.until, query.today)
    return rows_aggregate(ad_account, query, figures)


_provider: InsightsProvider = synthetic_rows


def insights_provider_set(provider: InsightsProvider | None) -> None:
    """Register the function that makes insights rows (None restores the synthetic rows)."""
    global _provider
    _provider = provider or synthetic_rows


def insights_rows(ad_account: SandboxAdAccount, params: dict[str, Any]) -> list[dict[str, Any]]:
    return _provider(ad_account, params)


# --- Parameters, checked like Meta checks them ---------------------------------------------------------


@dataclass(frozen=True)
class InsightsQuery:
    fields: tuple[str, ...]
    level: str
    since: date
    until: date
    today: date
    increment: int | None  # days per row; None: one row for the whole range ("all_days")


def _json_value(value: Any, name: str) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            raise refuse.invalid_parameter(f"Param {name} must be valid JSON") from None
    return value


def _date(value: Any, name: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise refuse.invalid_parameter(f"Param time_range[{name}] must be a date like 2026-01-31") from None


def _range(params: dict[str, Any], today: date) -> tuple[date, date]:
    time_range = _json_value(params.get("time_range"), "time_range")
    if time_range:
        if not isinstance(time_range, dict) or "since" not in time_range or "until" not in time_range:
            raise refuse.invalid_parameter("Param time_range must be an object with since and until")
        since, until = _date(time_range["since"], "since"), _date(time_range["until"], "until")
        if since > until:
            raise refuse.invalid_parameter("Param time_range: since must not be after until")
        return since, until
    preset = str(params.get("date_preset") or "last_30d")
    yesterday = today - timedelta(days=1)
    if preset == "today":
        return today, today
    if preset == "yesterday":
        return yesterday, yesterday
    if preset in PRESET_DAYS:
        return today - timedelta(days=PRESET_DAYS[preset]), yesterday
    raise refuse.invalid_parameter(f"Param date_preset must be one of today, yesterday, {', '.join(PRESET_DAYS)}")


def _increment(value: Any) -> int | None:
    if value in (None, "", "all_days"):
        return None
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise refuse.invalid_parameter("Param time_increment must be 1 to 90 or all_days (the sandbox)") from None
    if not 1 <= days <= 90:
        raise refuse.invalid_parameter("Param time_increment must be 1 to 90 or all_days")
    return days


def insights_params_parse(ad_account: SandboxAdAccount, params: dict[str, Any]) -> InsightsQuery:
    raw_fields = params.get("fields") or ",".join(DEFAULT_FIELDS)
    fields = tuple(part.strip() for part in str(raw_fields).split(",") if part.strip())
    for name in fields:
        if name not in INSIGHTS_FIELDS:
            raise refuse.invalid_parameter(f"{name} is not valid for fields param.")
    level = str(params.get("level") or "account")
    if level not in LEVELS:
        raise refuse.invalid_parameter(f"Param level must be one of {', '.join(LEVELS)}")
    if params.get("breakdowns"):
        raise refuse.invalid_parameter("The sandbox serves no breakdowns")
    today = synthetic_ads.today_for(ad_account)
    since, until = _range(params, today)
    if since < today - timedelta(days=HISTORY_DAYS):
        raise refuse.invalid_parameter(
            "The start date of the time range cannot be beyond 37 months from the current date", code=3018
        )
    return InsightsQuery(fields, level, since, until, today, _increment(params.get("time_increment")))


# --- Rows as Meta shapes them ------------------------------------------------------------------------


@dataclass
class _Totals:
    impressions: int = 0
    clicks: int = 0
    reach: int = 0
    spend_cents: int = 0
    purchases: int = 0


def _bucket(query: InsightsQuery, day: date) -> tuple[date, date]:
    if query.increment is None:
        return query.since, query.until
    start = query.since + timedelta(days=(day - query.since).days // query.increment * query.increment)
    return start, min(start + timedelta(days=query.increment - 1), query.until)


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _ratio(numerator: Decimal, denominator: int, scale: int) -> str | None:
    if not denominator:
        return None
    return f"{numerator * scale / denominator:.6f}"


def rows_aggregate(
    account: SandboxAdAccount, query: InsightsQuery, figures: Iterable[synthetic_ads.FiguresRow]
) -> list[dict[str, Any]]:
    """Sum the daily figures per level and time bucket, then keep the fields asked for."""
    groups: dict[tuple, tuple[dict[str, str], _Totals]] = {}
    for row in figures:
        names = {key: getattr(row.ad, key) for key in LEVEL_KEYS[query.level]}
        start, stop = _bucket(query, row.day)
        key = (start, *names.values())
        if key not in groups:
            labels = {"date_start": start.isoformat(), "date_stop": stop.isoformat(), **names}
            groups[key] = (labels, _Totals())
        totals = groups[key][1]
        totals.impressions += row.figures.impressions
        totals.clicks += row.figures.clicks
        totals.reach += row.figures.reach  # summed: the sandbox does not dedupe people
        totals.spend_cents += row.figures.spend_cents
        totals.purchases += row.figures.purchases
    return [_row_json(account, query, labels, totals) for labels, totals in groups.values()]


def _row_json(account: SandboxAdAccount, query: InsightsQuery, labels: dict[str, str], t: _Totals) -> dict[str, Any]:
    spend = Decimal(t.spend_cents) / 100
    actions = [
        {"action_type": kind, "value": str(value)}
        for kind, value in (("link_click", t.clicks), ("purchase", t.purchases))
        if value
    ]
    values: dict[str, Any] = {
        "account_id": account.account_id,
        "account_name": account.name,
        "account_currency": account.currency,
        "spend": _money(t.spend_cents),
        "impressions": str(t.impressions),
        "clicks": str(t.clicks),
        "reach": str(t.reach),
        "actions": actions,
        "cpm": _ratio(spend, t.impressions, 1000),
        "cpc": _ratio(spend, t.clicks, 1),
        "ctr": _ratio(Decimal(t.clicks), t.impressions, 100),
        **labels,
    }
    out = {name: values[name] for name in query.fields if values.get(name) not in (None, [])}
    out["date_start"], out["date_stop"] = labels["date_start"], labels["date_stop"]
    return out


# --- Async report runs -----------------------------------------------------------------------------------

_state_lock = threading.Lock()
_polls: dict[str, int] = {}
_outcomes: dict[str, str] = {}  # report run id -> the status it ends with
_failures_queued: dict[str, list[str]] = {}  # act_<digits> -> statuses for its next runs


def report_runs_fail_next(*, ad_account_id: str, count: int = 1, status: str = JOB_FAILED) -> None:
    """The next `count` report runs started on this ad account end with `status`."""
    if status not in {JOB_FAILED, JOB_SKIPPED}:
        raise ValueError("A report run fails with 'Job Failed' or 'Job Skipped'.")
    act_id = f"act_{ad_account_id.removeprefix('act_')}"
    with _state_lock:
        _failures_queued.setdefault(act_id, []).extend([status] * count)


def report_runs_reset() -> None:
    """Forget every run's progress and queued failure (tests)."""
    with _state_lock:
        _polls.clear()
        _outcomes.clear()
        _failures_queued.clear()


def report_run_started(run: SandboxReportRun) -> None:
    """Decide now how the run ends, so a failure queued later does not hit a running one."""
    with _state_lock:
        queued = _failures_queued.get(run.ad_account.act_id) or []
        _outcomes[run.fb_id] = queued.pop(0) if queued else JOB_COMPLETED


def report_run_status(run: SandboxReportRun) -> dict[str, Any]:
    """One status read: the run moves on by REPORT_PERCENT_STEP percent."""
    with _state_lock:
        polls = _polls.get(run.fb_id, 0) + 1
        _polls[run.fb_id] = polls
        outcome = _outcomes.get(run.fb_id, JOB_COMPLETED)
    percent = min(100, polls * REPORT_PERCENT_STEP)
    if percent < 100:
        status = JOB_RUNNING
    else:
        status = outcome
        percent = 100 if outcome == JOB_COMPLETED else percent - REPORT_PERCENT_STEP
    return {"id": run.fb_id, "async_status": status, "async_percent_completion": percent}


def report_run_rows(run: SandboxReportRun) -> list[dict[str, Any]]:
    """A run's rows, once its status said "Job Completed" (Meta refuses them before)."""
    with _state_lock:
        done = _polls.get(run.fb_id, 0) * REPORT_PERCENT_STEP >= 100
        outcome = _outcomes.get(run.fb_id, JOB_COMPLETED)
    if not done or outcome != JOB_COMPLETED:
        # UNVERIFIED: Meta's exact answer for rows of an unfinished or failed report run.
        status = outcome if done else JOB_RUNNING
        raise refuse.invalid_parameter(f"Report run {run.fb_id} is not completed (status: {status})")
    return insights_rows(run.ad_account, dict(run.params))

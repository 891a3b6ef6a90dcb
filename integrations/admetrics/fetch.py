"""Reading an ad account's daily ad rows from Facebook: a paged read, or an async report run.

Short ranges are read directly (`GET act_<id>/insights`, cursor pages). Ranges longer
than `conf.async_min_days()` go through an async report run, as Meta recommends for
big reads: start it, poll its status with growing waits under a bounded total, then
read its rows page by page. Retries and throttles are the client's business
(`integrations.facebook.retry`); this module only decides what to ask and how long to wait.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

from integrations.admetrics import conf
from integrations.admetrics.problems import ReportRunFailed, ReportRunTimedOut
from integrations.admetrics.rows import INSIGHT_FIELDS
from integrations.facebook.client import GraphClient

LEVEL = "ad"
MAX_POLL_SECONDS = 30.0
PAGED = "paged"
REPORT_RUN = "report_run"


def read_method_for(*, since: date, until: date) -> str:
    days = (until - since).days + 1
    return REPORT_RUN if days > conf.async_min_days() else PAGED


def insight_rows_paged(*, client: GraphClient, since: date, until: date) -> Iterator[dict[str, Any]]:
    return client.insights(
        fields=INSIGHT_FIELDS, level=LEVEL, time_range=(since, until), time_increment=1, limit=conf.page_size()
    )


def insight_rows_by_report_run(
    *, client: GraphClient, since: date, until: date, on_started: Callable[[str], None]
) -> Iterator[dict[str, Any]]:
    report_run_id = client.insights_report_start(
        fields=INSIGHT_FIELDS, level=LEVEL, time_range=(since, until), time_increment=1
    )
    on_started(report_run_id)
    report_run_wait(client=client, report_run_id=report_run_id)
    return client.insights_report_rows(report_run_id, limit=conf.page_size())


def report_run_wait(*, client: GraphClient, report_run_id: str) -> None:
    """Poll until "Job Completed"; raise on "Job Failed"/"Job Skipped" or past the total wait.

    The client's retry policy provides sleep and clock, so tests wait for nothing.
    """
    sleep, clock = client.retry_policy.sleep, client.retry_policy.clock
    max_wait = conf.report_max_wait_seconds()
    delay = max(conf.report_poll_seconds(), 0.0)
    started = clock()
    while True:
        run = client.insights_report_status(report_run_id)
        if run.is_complete:
            return
        if run.is_failed:
            raise ReportRunFailed(
                f"Facebook's report run {report_run_id} ended with '{run.async_status}' "
                f"at {run.async_percent_completion}%."
            )
        elapsed = clock() - started
        if elapsed + delay > max_wait:
            raise ReportRunTimedOut(
                f"Facebook's report run {report_run_id} was still '{run.async_status or 'not started'}' "
                f"at {run.async_percent_completion}% after {elapsed:.0f} s (the import waits {max_wait:.0f} s)."
            )
        sleep(delay)
        delay = min(max(delay * 2, 0.001), MAX_POLL_SECONDS)

"""The ad spend import's knobs: a Django setting when defined, else the environment.

| Variable                           | Default | Meaning                                                        |
|------------------------------------|---------|----------------------------------------------------------------|
| ADMETRICS_TRAILING_DAYS            | 28      | days before yesterday re-pulled daily (Meta revises them)      |
| ADMETRICS_ASYNC_MIN_DAYS           | 32      | ranges longer than this use an async report run               |
| ADMETRICS_REPORT_MAX_WAIT_SECONDS  | 900     | total wait for a report run before the import gives up        |
| ADMETRICS_REPORT_POLL_SECONDS      | 5       | first wait between status reads (doubles up to 30 s)          |
| ADMETRICS_PAGE_SIZE                | 500     | rows per Graph page                                            |
| ADMETRICS_RUNNING_LEASE_SECONDS    | 3600    | an import "running" for longer than this is taken as dead     |
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.conf import settings

from config.env import env_float, env_int

T = TypeVar("T")

# Meta keeps 37 months of insights; a backfill starting earlier is refused up front.
HISTORY_DAYS = 37 * 30


def _setting(name: str, reader: Callable[[str, T], T], default: T) -> T:
    if hasattr(settings, name):
        return getattr(settings, name)
    return reader(name, default)


def trailing_days() -> int:
    return max(0, _setting("ADMETRICS_TRAILING_DAYS", env_int, 28))


def async_min_days() -> int:
    return max(1, _setting("ADMETRICS_ASYNC_MIN_DAYS", env_int, 32))


def report_max_wait_seconds() -> float:
    return _setting("ADMETRICS_REPORT_MAX_WAIT_SECONDS", env_float, 900.0)


def report_poll_seconds() -> float:
    return _setting("ADMETRICS_REPORT_POLL_SECONDS", env_float, 5.0)


def page_size() -> int:
    return _setting("ADMETRICS_PAGE_SIZE", env_int, 500)


def running_lease_seconds() -> int:
    return _setting("ADMETRICS_RUNNING_LEASE_SECONDS", env_int, 3600)

"""The ad spend import's recurring task (see config/schedules.py)."""

from __future__ import annotations

from config.schedules import ScheduleSpec

SCHEDULES = [
    # Yesterday and the trailing window (Meta revises recent days), for every connected ad account.
    ScheduleSpec(
        name="admetrics.insights_imports_daily",
        func="integrations.admetrics.tasks.insights_imports_daily",
        schedule_type="D",  # django_q.models.Schedule.DAILY
    ),
]

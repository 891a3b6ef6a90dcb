"""The cohorts app's recurring tasks (see config/schedules.py)."""

from __future__ import annotations

from config.schedules import ScheduleSpec

SCHEDULES = [
    # Lists only (names, sizes, lastComputed): list calls do not count against the
    # 500 monthly downloads, and keep the admin's cohort pages current.
    ScheduleSpec(
        name="cohorts.cohort_lists_refresh_hourly",
        func="cohorts.tasks.cohort_lists_refresh_all",
        schedule_type="H",  # django_q.models.Schedule.HOURLY
    ),
]

"""The integrations app's recurring tasks (see config/schedules.py)."""

from __future__ import annotations

from config.schedules import ScheduleSpec

SCHEDULES = [
    # Tokens expire, Terms get revoked, people lose their roles: find out before a sync
    # does, and warn 7 days before a token expires.
    ScheduleSpec(
        name="integrations.connection_checks_daily",
        func="integrations.connections.connections_check_all",
        schedule_type="D",  # django_q.models.Schedule.DAILY
    ),
]

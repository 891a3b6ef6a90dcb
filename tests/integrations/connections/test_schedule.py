"""The daily connection checks are declared, created by setup_schedules, and run the service."""

from __future__ import annotations

import pytest
from django.utils.module_loading import import_string
from django_q.models import Schedule

from config.schedules import schedules_ensure
from integrations.connections import connections_check_all

pytestmark = pytest.mark.django_db


def test_the_daily_connection_check_is_scheduled_once_and_points_at_the_service():
    schedules_ensure()
    schedules_ensure()
    schedule = Schedule.objects.get(name="integrations.connection_checks_daily")
    assert schedule.schedule_type == Schedule.DAILY
    assert import_string(schedule.func) is connections_check_all

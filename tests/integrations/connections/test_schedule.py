"""The daily connection checks are declared and point at the service."""

from __future__ import annotations

from django.utils.module_loading import import_string
from django_q.models import Schedule

from integrations.connections import connections_check_all
from integrations.schedules import SCHEDULES


def test_the_daily_connection_check_is_declared_and_points_at_the_service():
    (spec,) = [spec for spec in SCHEDULES if spec.name == "integrations.connection_checks_daily"]
    assert spec.schedule_type == Schedule.DAILY
    assert import_string(spec.func) is connections_check_all

"""Every recurring task, declared in code by name and created idempotently.

Each app lists its schedules in `<app>/schedules.py` as `SCHEDULES = [ScheduleSpec(...)]`;
`manage.py setup_schedules` (run by `make run` and at deploy) creates or updates them.
Per-job sync schedules are not here: the sync service creates them with the job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module

SCHEDULE_MODULES = [
    "integrations.schedules",
    "cohorts.schedules",
    "syncs.schedules",
    "integrations.admetrics.schedules",
]


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    func: str  # dotted path of the task function
    schedule_type: str  # django_q.models.Schedule.MINUTES / HOURLY / DAILY / CRON
    minutes: int | None = None
    cron: str | None = None
    kwargs: dict = field(default_factory=dict)


def declared_schedules() -> list[ScheduleSpec]:
    specs: list[ScheduleSpec] = []
    for module_name in SCHEDULE_MODULES:
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as exc:
            # An app without schedules (or not installed) declares none; an import error
            # inside an existing schedules module must still surface.
            if exc.name is None or not module_name.startswith(exc.name):
                raise
            continue
        specs.extend(getattr(module, "SCHEDULES", []))
    return specs


def schedules_ensure() -> list[str]:
    """Create or update every declared schedule; returns their names."""
    from django_q.models import Schedule

    names = []
    for spec in declared_schedules():
        Schedule.objects.update_or_create(
            name=spec.name,
            defaults={
                "func": spec.func,
                "schedule_type": spec.schedule_type,
                "minutes": spec.minutes,
                "cron": spec.cron,
                "kwargs": spec.kwargs,
                "repeats": -1,
            },
        )
        names.append(spec.name)
    return names

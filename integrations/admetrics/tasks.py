"""django-q2 task entry points: thin doors into the ad spend services."""

from __future__ import annotations

from integrations.admetrics import services


def insights_import_task(import_id: int) -> str:
    """Run one queued import (idempotent: a second delivery finds it no longer queued)."""
    return services.insights_import_execute(import_id=import_id).status


def insights_imports_daily() -> int:
    """The daily schedule: queue one import per connected ad account; returns how many."""
    return len(services.insights_imports_daily_queue())

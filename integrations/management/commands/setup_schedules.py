"""Create or update every recurring task declared in the apps' schedules.py (idempotent)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from config.schedules import schedules_ensure


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules declared in code."

    def handle(self, *args, **options):
        for name in schedules_ensure():
            self.stdout.write(f"schedule ready: {name}")

"""Create (or reuse) the full sandbox demo and print the login and the sync job ids."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from syncs.demo import demo_ensure


class Command(BaseCommand):
    help = (
        "Idempotently create the sandbox demo: an admin user, a project connected to the sandbox's Facebook, "
        "cohorts from the sandbox's Amplitude, key mappings and an hourly sync job. Needs the server running "
        "(make run starts it first)."
    )

    def handle(self, *args, **options):
        if not settings.SANDBOX:
            raise CommandError("The demo runs on the sandbox: set SANDBOX=1 (make run does).")
        demo = demo_ensure()
        self.stdout.write(f"Demo project: {demo.project.name}; Facebook: {demo.connection} ({demo.connection.status})")
        for job in demo.jobs:
            self.stdout.write(f"Sync job {job.pk}: {job} ({job.get_cadence_display()}) -> audience {job.audience_id}")
        if demo.password is None:
            self.stdout.write("Log in as 'admin' with the password you set.")
        else:
            self.stdout.write(
                self.style.SUCCESS(f"Log in at {settings.SITE_URL}/admin/ as 'admin' with password '{demo.password}'")
            )

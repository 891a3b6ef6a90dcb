"""Create the local demo (idempotent): an admin user and a project on the sandbox."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from integrations.demo import demo_admin_ensure, demo_project_ensure


class Command(BaseCommand):
    help = "Create (or reuse) the demo admin user and demo project for the local sandbox."

    def handle(self, *args, **options):
        login = demo_admin_ensure()
        project = demo_project_ensure()
        self.stdout.write(f"Demo project: {project.name} (/{project.slug})")
        if login.password is None:
            self.stdout.write(f"Log in as '{login.username}' with the password you set.")
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Log in at {settings.SITE_URL}/admin/ as '{login.username}' with password '{login.password}'"
                )
            )

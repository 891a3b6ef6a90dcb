"""Create a cohort in the local Amplitude, or change a share of a cohort's members.

    python manage.py sandbox_amplitude_cohort --size 1000000 --name bench [--seed 7] [--warm-props email,phone]
        prints the new cohort's id (its Amplitude id, e.g. "k3v9q2x")
    python manage.py sandbox_amplitude_cohort --change k3v9q2x --percent 1
        two thirds of 1% of the members leave (as many join), one third change email; prints the counts
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.sandbox.amplitude import services
from integrations.sandbox.amplitude.models import SandboxAmplitudeProject, SandboxCohort


class Command(BaseCommand):
    help = "Create a cohort in the Amplitude sandbox (prints its id), or change k% of a cohort's members."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--size", type=int, help="members of the new cohort")
        parser.add_argument("--name", default="", help="name of the new cohort")
        parser.add_argument("--seed", type=int, default=None, help="same seed and size, same members")
        parser.add_argument("--api-key", default="", help="the sandbox project (default: the demo project)")
        parser.add_argument("--change", metavar="COHORT_ID", help="change an existing cohort instead")
        parser.add_argument("--percent", type=float, default=1.0, help="share of members to change (with --change)")
        parser.add_argument(
            "--warm-props",
            default=None,
            help="comma-separated properties: write the export file now, so a download does not wait for it",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["change"]:
            cohort = SandboxCohort.objects.filter(cohort_id=options["change"]).first()
            if cohort is None:
                raise CommandError(f"No sandbox cohort {options['change']!r}.")
            change = services.sandbox_cohort_change(cohort=cohort, percent=options["percent"])
            self.stdout.write(
                f"{cohort.cohort_id}: {change.left} left, {change.joined} joined, {change.email_changed} changed email"
            )
        else:
            if not options["size"]:
                raise CommandError("Give --size (and --name) to create a cohort, or --change COHORT_ID.")
            project = None
            if options["api_key"]:
                project = SandboxAmplitudeProject.objects.filter(api_key=options["api_key"]).first()
                if project is None:
                    raise CommandError(f"No sandbox project with API key {options['api_key']!r}.")
            cohort = services.sandbox_cohort_create(
                size=options["size"],
                name=options["name"] or f"Cohort of {options['size']}",
                seed=options["seed"],
                project=project,
            )
            self.stdout.write(cohort.cohort_id)
        if options["warm_props"] is not None:
            props = [name.strip() for name in options["warm_props"].split(",") if name.strip()]
            services.sandbox_export_warm(cohort=cohort, prop_keys=props)

"""`python manage.py sandbox_audience AUDIENCE_ID`: rows held, then the membership digest.

The digest is SHA-256 over the sorted stored row digests; compute the expected one from
the rows that should be there with `integrations.sandbox.selectors.audience_rows_digest`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.sandbox import selectors
from integrations.sandbox.models import SandboxAudience


class Command(BaseCommand):
    help = "Print the number of rows a sandbox audience holds and the SHA-256 digest of its membership."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("audience_id")

    def handle(self, *args: Any, **options: Any) -> None:
        audience = SandboxAudience.objects.filter(fb_id=options["audience_id"]).first()
        if audience is None:
            raise CommandError(f"No sandbox audience {options['audience_id']}.")
        count, digest = selectors.audience_stored_digest(audience=audience)
        self.stdout.write(str(count))
        self.stdout.write(digest)

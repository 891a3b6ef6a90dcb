"""`python manage.py sandbox_token`: a valid long-lived token and its ad account, two lines.

The token belongs to the sandbox person for whom everything is in order (every scope
granted, Terms accepted, ad account in a Business Manager). A new token is minted on
every call; the sandbox keeps only its digest.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from integrations.sandbox import services


class Command(BaseCommand):
    help = "Print a valid long-lived sandbox token, then its ad account id (act_<digits>)."

    def handle(self, *args: Any, **options: Any) -> None:
        ready = services.sandbox_seed()["ready"]
        token = services.sandbox_token_issue(person=ready.person)
        self.stdout.write(token)
        self.stdout.write(ready.act_id)

"""Re-encrypt every stored secret with the first key of TOKEN_ENCRYPTION_KEYS."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from integrations.fields import encrypted_values_rotate


class Command(BaseCommand):
    help = (
        "After putting a new key first in TOKEN_ENCRYPTION_KEYS (old keys after it), re-encrypt "
        "every secret with it; then the old keys can be removed."
    )

    def handle(self, *args, **options):
        count = encrypted_values_rotate()
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {count} values with the current key."))

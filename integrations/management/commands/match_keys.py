"""Show exactly what is uploaded to Meta for raw values of one match key.

    python manage.py match_keys EMAIL < emails.txt
    printf '07700 900123\n' | python manage.py match_keys PHONE --country GB

Reads UTF-8 lines from standard input and prints one line per input line: the value as it would be
uploaded (a SHA-256 hex digest for hashed keys, the normalised value for MADID, EXTERN_ID and
LOOKALIKE_VALUE), or an empty line when the value is missing or unusable. Nothing is logged.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.facebook.match_keys import SCHEMA_KEYS, encode


def _lines(stream: Any) -> Iterator[str]:
    """Lines of `stream` without their line ending, decoded as UTF-8 whatever the locale says."""
    binary = getattr(stream, "buffer", None)
    if binary is not None:
        for raw in binary:
            # An undecodable byte becomes a lone surrogate, which encode() treats as unusable.
            yield raw.decode("utf-8", "surrogateescape").rstrip("\r\n")
    else:
        for line in stream:
            yield line.rstrip("\r\n")


class Command(BaseCommand):
    help = "Print what is uploaded to Meta for each line of standard input, for one match key."
    stealth_options = ("stdin",)  # tests pass a stream, like Django's createsuperuser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key", type=str.upper, choices=SCHEMA_KEYS, help="match key, e.g. EMAIL or PHONE")
        parser.add_argument(
            "--country",
            help="default country (ISO 3166-1 alpha-2, e.g. US): its calling code is added to phone "
            "numbers written without one",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        key: str = options["key"]
        country: str | None = options["country"]
        try:
            encode(key, None, default_country=country)
        except ValueError as error:
            raise CommandError(str(error)) from error
        stdin: TextIO = options.get("stdin") or sys.stdin
        for line in _lines(stdin):
            self.stdout.write(encode(key, line, default_country=country) or "")

"""`manage.py match_keys KEY [--country CC]`: what exactly is uploaded for each input line."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def run(*args: str, stdin: str) -> list[str]:
    out = io.StringIO()
    call_command("match_keys", *args, stdin=io.StringIO(stdin), stdout=out)
    return out.getvalue().split("\n")[:-1]


def test_one_output_line_per_input_line_with_empty_lines_for_unusable_values():
    lines = run("EMAIL", stdin=" John.Doe@Example.COM \n\nnot an email\n" + "A" * 64 + "\n")
    assert lines == [sha("john.doe@example.com"), "", "", "a" * 64]


def test_country_option_adds_the_calling_code_to_national_numbers():
    lines = run("PHONE", "--country", "GB", stdin="07700 900123\r\n+1 (555) 123-4567\n")
    assert lines == [sha("447700900123"), sha("15551234567")]


def test_unhashed_keys_print_the_value_itself_and_the_key_is_case_insensitive():
    assert run("madid", stdin="6D92078A-8246-4BA4-AE5B-76104861E7DC\n") == ["6d92078a-8246-4ba4-ae5b-76104861e7dc"]
    assert run("LOOKALIKE_VALUE", stdin="12.50\n-3\n") == ["12.5", ""]


def test_utf8_letters_stay_in_names():
    assert run("FN", stdin="Valéry\n") == [sha("valéry")]


def test_bad_country_is_a_command_error():
    with pytest.raises(CommandError, match="default_country"):
        run("PHONE", "--country", "XX", stdin="5551234567\n")


def test_unknown_key_is_refused():
    with pytest.raises(CommandError):
        run("EMAILS", stdin="a@b.co\n")


def test_reads_utf8_bytes_whatever_the_locale_and_survives_invalid_bytes():
    stdin = io.TextIOWrapper(io.BytesIO(b"Zo\xc3\xab\n\xff\n"), encoding="ascii")  # a C-locale terminal
    out = io.StringIO()
    call_command("match_keys", "FN", stdin=stdin, stdout=out)
    assert out.getvalue().split("\n")[:-1] == [sha("zoë"), ""]

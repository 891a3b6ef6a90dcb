"""Meta's normalisation and hashing for every key of the custom-audience multi-key schema.

Rules follow Meta's customer-list formatting guide (``shared/docs/facebook-marketing-api.md``,
section 3). Where open-source helpers disagree with Meta's text, Meta's text wins: UTF-8 letters stay
in names ("Valéry" -> "valéry"), US state and country names become their codes, a US ZIP+4 becomes
five digits, a phone number without a country calling code gets the one of ``default_country``,
an unknown gender is unusable (never "m"), and an impossible date part is unusable.

Public API (importable without Django; blocks are hashed by the optional C module of
``hex_digests`` when it is built, otherwise in Python with the same output):

* ``normalize(key, raw)``: Meta's normalised form of one value, or ``None`` when it is unusable.
* ``encode(key, raw)``: what is uploaded for that value (lowercase hex SHA-256 of the normalised
  UTF-8 form for hashed keys, the normalised value itself for MADID, EXTERN_ID, LOOKALIKE_VALUE).
  A value that already is a SHA-256 digest passes through lowercased and is never hashed twice.
* ``encode_rows(schema, rows)``: the batch form, the hot path of a sync.
* ``classify(key, raw)``: "missing", "invalid", "hashed" or "valid", for the key-quality preview.

Bad input (``None``, numbers, bytes, containers, emoji, control characters, 10 kB strings) never
raises out of these functions; an unknown key or default country is a programming error and does.

Decisions that Meta's text leaves open (each is tested):

* Whitespace: leading/trailing whitespace and invisible characters (zero-width space, BOM) are
  trimmed for every key. "null", "none", "n/a", "#n/a" and "undefined" count as missing.
* EMAIL: trimmed and lowercased (NFC), nothing else (Meta does no dot or plus canonicalisation);
  usable when it has no whitespace or control character, exactly one "@" with a "." after it and
  at most 254 characters.
* Names (FN, LN, FI) and CT: lowercase, Unicode NFC, only letters and their combining marks kept
  (punctuation, spaces, digits and symbols dropped: "Mary-Ann O'Neil" -> "maryannoneil").
* ST: US state, DC and territory names become their code ("NEW YORK" -> "ny"); other states are
  lowercase letters only ("Île-de-France" -> "îledefrance").
* COUNTRY: ISO 3166-1 alpha-2 from alpha-2 or alpha-3 codes, ISO names and common aliases or native
  names ("U.S.A.", "UK" -> "gb", "Deutschland"); anything else is unusable.
* GEN: "m"/"f" and common words for them in English, French, German and Spanish; anything else
  is unusable.
* ZIP: lowercase letters and digits only; "12345-6789" -> "12345"; any other nine digits -> the
  first five when the country is the US or unknown; 3 to 10 characters with at least one digit.
* PHONE: a number carries its country calling code when it starts with "+" or an international
  call prefix ("00", or the default country's own, such as "011" in North America), or when its
  digits start with the default country's calling code followed by a national number of a length
  that country uses. Otherwise the national trunk prefix (the UK's leading 0) is dropped and the
  default country's code prefixed when the rest has such a length. Without a default country the
  digits must already start with a known calling code and have a plausible length. "(0)" after a
  country code and extensions ("x123", "ext. 123", "#123") are removed first.
* EXTERN_ID: sent exactly as given after trimming (case kept, unlike the Python SDK which
  lowercases it); a value with a control character inside (tab, newline, NUL ...) is unusable
  rather than silently altered, since an altered id can never match.
* MADID: a UUID (IDFA/AAID), lowercase with hyphens; 32 bare hex digits get their hyphens; the
  all-zero id that iOS reports when tracking is limited is unusable.
* LOOKALIKE_VALUE: a non-negative decimal number below 10**15, canonical decimal text ("12.50" ->
  "12.5"). The Graph client should send it as a JSON number.
* Dates: DOBY/DOBM/DOBD also accept a full ISO date ("1990-05-17", datetime.date) and take their
  part. In ``encode_rows`` a day that does not exist in the row's month (Feb 30, or Feb 29 of a
  non-leap DOBY) is blanked.
* In ``encode_rows`` a row's own recognised COUNTRY is that row's default country for PHONE and ZIP.
* Values longer than MAX_VALUE_CHARS characters are unusable.
"""

from __future__ import annotations

import gc
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from itertools import compress
from operator import countOf, itemgetter, not_
from typing import NamedTuple

from integrations.facebook import match_key_tables as tables
from integrations.facebook.hex_digests import digest_rows, digests, sha256

# --- Public constants ------------------------------------------------------------------------

# Meta's multi-key schema in Meta's order, plus LOOKALIKE_VALUE for value-based audiences.
SCHEMA_KEYS: tuple[str, ...] = (
    "EXTERN_ID",
    "EMAIL",
    "PHONE",
    "GEN",
    "DOBY",
    "DOBM",
    "DOBD",
    "LN",
    "FN",
    "FI",
    "CT",
    "ST",
    "ZIP",
    "MADID",
    "COUNTRY",
    "LOOKALIKE_VALUE",
)
# Keys that identify a person on their own; the others only help a match.
IDENTIFYING_KEYS: frozenset[str] = frozenset({"EMAIL", "PHONE", "MADID", "EXTERN_ID"})
# Keys Meta wants in the clear.
UNHASHED_KEYS: frozenset[str] = frozenset({"MADID", "EXTERN_ID", "LOOKALIKE_VALUE"})
HASHED_KEYS: frozenset[str] = frozenset(SCHEMA_KEYS) - UNHASHED_KEYS

# classify() results.
MISSING = "missing"
INVALID = "invalid"
HASHED = "hashed"
VALID = "valid"

# Reasons in EncodedRows.rejected (short and stable: they are stored and counted).
REJECT_NO_IDENTIFYING_KEY = "no identifying key"
REJECT_MALFORMED_ROW = "malformed row"

MAX_VALUE_CHARS = 256
MAX_EMAIL_CHARS = 254  # RFC 5321 limit on a forward path, minus the angle brackets
MAX_LOOKALIKE_VALUE = Decimal(10) ** 15
MIN_BIRTH_YEAR = 1900


@dataclass(frozen=True)
class EncodedRows:
    """Result of encode_rows()."""

    rows: list[list[str]]  # accepted rows as uploaded, schema order, "" for missing/unusable fields
    rejected: list[tuple[int, str]]  # (input row index, REJECT_* reason), in input order
    total: int  # number of input rows

    @property
    def indices(self) -> list[int]:
        """Input index of each accepted row, parallel to `rows` (computed on demand)."""
        if not self.rejected:
            return list(range(self.total))
        skipped = {index for index, _ in self.rejected}
        return [index for index in range(self.total) if index not in skipped]


# --- Text preparation ------------------------------------------------------------------------

# Whitespace plus characters that are invisible in spreadsheets and exports (zero-width space and
# joiners, word joiner, byte-order mark, soft hyphen): trimmed from both ends of every value.
_TRIM_CHARS = "".join(chr(c) for c in range(0x3001) if chr(c).isspace()) + "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_PLACEHOLDERS = frozenset({"null", "none", "n/a", "#n/a", "undefined"})
_HEX_CHARS = "0123456789abcdefABCDEF"
_DATE_KEYS = frozenset({"DOBY", "DOBM", "DOBD"})


class _Unusable:
    """Marker for a value that is present but can never be a usable match key."""


_UNUSABLE = _Unusable()


def _trim(text: str) -> str:
    text = text.strip()
    if text and (text[0] in _TRIM_CHARS or text[-1] in _TRIM_CHARS):
        text = text.strip(_TRIM_CHARS)
    return text


def _to_text(raw: object, *, allow_date: bool = False) -> str | _Unusable | None:
    """Turn a raw value from CSV/JSON into trimmed text; None when missing, _UNUSABLE when junk."""
    if raw is None:
        return None
    if isinstance(raw, str):
        text = str.__str__(raw)
    elif isinstance(raw, bool):  # before int: True is an int, and never a match key
        return _UNUSABLE
    elif isinstance(raw, int):
        if raw.bit_length() > 256:
            return _UNUSABLE
        text = int.__repr__(raw)
    elif isinstance(raw, float):
        if math.isnan(raw):  # pandas' and JSON exporters' spelling of "no value"
            return None
        if math.isinf(raw) or abs(raw) >= 1e30:
            return _UNUSABLE
        # Spreadsheets turn phone numbers and ZIP codes into floats: 15551234567.0 means the integer.
        text = int.__repr__(int(raw)) if raw.is_integer() else float.__repr__(raw)
    elif isinstance(raw, Decimal):
        if raw.is_nan():
            return None
        if not raw.is_finite() or raw.adjusted() > 30 or raw.adjusted() < -30:
            return _UNUSABLE
        text = format(raw, "f")
    elif isinstance(raw, bytes | bytearray):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return _UNUSABLE
    elif isinstance(raw, date):
        if not allow_date:
            return _UNUSABLE
        text = raw.isoformat()[:10]
    else:
        return _UNUSABLE
    text = _trim(text)
    if not text:
        return None
    if len(text) > MAX_VALUE_CHARS:
        return _UNUSABLE
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: not text at all
            return _UNUSABLE
    if len(text) <= 9 and text.lower() in _PLACEHOLDERS:
        return None
    return text


def _is_digest(text: str) -> bool:
    return len(text) == 64 and not text.strip(_HEX_CHARS)


# --- Per-key normalisers ---------------------------------------------------------------------
# Each takes trimmed, non-empty text that is not a digest and returns Meta's form or None.


# (calling code, trunk prefix, international call prefix, national number lengths, may start with 0)
_PhoneRegion = tuple[str, str | None, str | None, tuple[int, ...], bool]


class _Context(NamedTuple):
    country: str | None  # default country, ISO alpha-2 upper case
    phone_region: _PhoneRegion | None
    year: int  # current year: later birth years are impossible


# bytes.translate is a C table lookup; str.translate goes through a dict per character.
_ASCII_NOT_LETTERS = bytes(c for c in range(128) if not chr(c).isalpha())
_ASCII_NOT_ALNUM = bytes(c for c in range(128) if not chr(c).isalnum())


def _letters(text: str) -> str | None:
    """Lowercase letters (with their combining marks) only, NFC: Meta's form of names and cities."""
    if text.isascii():
        return text.encode().translate(None, _ASCII_NOT_LETTERS).decode().lower() or None
    text = unicodedata.normalize("NFC", text.lower())
    kept = []
    after_letter = False
    for ch in text:
        category = unicodedata.category(ch)[0]
        if category == "L":
            kept.append(ch)
            after_letter = True
        elif category == "M":
            if after_letter:  # a mark only belongs to the letter before it
                kept.append(ch)
        else:
            after_letter = False
    # Dropping a character between a letter and its mark can make a new composable pair.
    return unicodedata.normalize("NFC", "".join(kept)) or None


def _norm_name(text: str, ctx: _Context) -> str | None:
    return _letters(text)


def _norm_first_initial(text: str, ctx: _Context) -> str | None:
    letters = _letters(text)
    return letters[0] if letters else None


_US_STATE_CODES: dict[str, str] = {}
for _code, _names in tables.US_STATES.items():
    for _name in _names:
        _US_STATE_CODES[tables.lookup_key(_name)] = _code.lower()


def _norm_state(text: str, ctx: _Context) -> str | None:
    letters = _letters(text)
    if letters is None:
        return None
    return _US_STATE_CODES.get(tables.lookup_key(letters), letters)


_COUNTRY_CODES: dict[str, str] = {}
for _key, _code in tables.ISO_ALPHA3.items():
    _COUNTRY_CODES[_key] = _code
_COUNTRY_CODES.update(tables.ISO_COUNTRY_NAMES)
for _code, _names in tables.COUNTRY_ALIASES.items():
    for _name in _names:
        _COUNTRY_CODES[tables.lookup_key(_name)] = _code
_ALPHA2 = tables.ISO_ALPHA2 | tables.EXTRA_ALPHA2


def _country_code(text: str) -> str | None:
    """ISO 3166-1 alpha-2 (upper case) for a code, alpha-3 code, English name or common alias."""
    key = tables.lookup_key(text)
    if len(key) == 2:
        upper = key.upper()
        return upper if upper in _ALPHA2 else _COUNTRY_CODES.get(key)  # "uk" -> GB
    code = _COUNTRY_CODES.get(key)
    if code is None and key.startswith("the"):  # "The Netherlands", "the Gambia"
        code = _COUNTRY_CODES.get(key[3:])
    return code


def _norm_country(text: str, ctx: _Context) -> str | None:
    code = _country_code(text)
    return code.lower() if code else None


_GENDERS: dict[str, str] = {}
for _gender, _words in (
    ("m", "m male man men boy mr mister masculine masc he him homme masculin hombre masculino mann mannlich"),
    ("f", "f female woman women girl mrs ms miss feminine fem she her femme feminin mujer femenino frau weiblich w"),
):
    for _word in _words.split():
        _GENDERS[_word] = _gender


def _norm_gender(text: str, ctx: _Context) -> str | None:
    return _GENDERS.get(tables.lookup_key(text))


_MONTHS: dict[str, int] = {}
for _number, _words in enumerate(
    (
        "january jan januar janvier enero",
        "february feb februar fevrier febrero",
        "march mar marz mars marzo",
        "april apr avril abril",
        "may mai mayo",
        "june jun juni juin junio",
        "july jul juli juillet julio",
        "august aug aout agosto",
        "september sep sept septembre septiembre",
        "october oct oktober octobre octubre",
        "november nov novembre noviembre",
        "december dec dezember decembre diciembre",
    ),
    start=1,
):
    for _word in _words.split():
        _MONTHS[_word] = _number

_FULL_DATE = re.compile(r"(\d{4})([-/.]?)(\d{1,2})\2(\d{1,2})(?:[T ][0-9:.+\-Z ]*)?")
_DAY_NUMBER = re.compile(r"0?([1-9]|[12][0-9]|3[01])(?:st|nd|rd|th)?", re.IGNORECASE)


def _full_date(text: str, ctx: _Context) -> date | None:
    match = _FULL_DATE.fullmatch(text)
    if match is None or (not match.group(2) and (len(match.group(3)) != 2 or len(match.group(4)) != 2)):
        return None
    try:
        parsed = date(int(match.group(1)), int(match.group(3)), int(match.group(4)))
    except ValueError:
        return None
    return parsed if MIN_BIRTH_YEAR <= parsed.year <= ctx.year else None


def _norm_birth_year(text: str, ctx: _Context) -> str | None:
    if len(text) == 4 and text.isascii() and text.isdigit():
        return text if MIN_BIRTH_YEAR <= int(text) <= ctx.year else None
    parsed = _full_date(text, ctx)
    return f"{parsed.year:04d}" if parsed else None


def _norm_birth_month(text: str, ctx: _Context) -> str | None:
    if len(text) <= 2 and text.isascii() and text.isdigit():
        month = int(text)
        return f"{month:02d}" if 1 <= month <= 12 else None
    month = _MONTHS.get(tables.lookup_key(text))
    if month:
        return f"{month:02d}"
    parsed = _full_date(text, ctx)
    return f"{parsed.month:02d}" if parsed else None


def _norm_birth_day(text: str, ctx: _Context) -> str | None:
    if text.isascii():
        match = _DAY_NUMBER.fullmatch(text)
        if match:
            return f"{int(match.group(1)):02d}"
    parsed = _full_date(text, ctx)
    return f"{parsed.day:02d}" if parsed else None


_ZIP_PLUS_FOUR = re.compile(r"(\d{5})(?:\s*-\s*|\s+)\d{4}")
_UNICODE_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63", "-"))


def _norm_zip(text: str, ctx: _Context) -> str | None:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_UNICODE_DASHES)  # full-width digits, dashes
        if not text.isascii():
            return None
    code = text.encode().translate(None, _ASCII_NOT_ALNUM).decode().lower()
    if len(code) == 9 and code.isdigit() and (ctx.country in (None, "US") or _ZIP_PLUS_FOUR.fullmatch(text)):
        return code[:5]  # a US ZIP+4, with or without its dash: Meta wants the first five digits
    if 3 <= len(code) <= 10 and not code.isalpha():  # every postal code system uses digits
        return code
    return None


def _norm_email(text: str, ctx: _Context) -> str | None:
    text = text.lower()
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    if (
        len(text) > MAX_EMAIL_CHARS
        or " " in text
        or not text.isprintable()  # with no space, this also rules out every other whitespace
        or text.count("@") != 1
        or "." not in text.partition("@")[2]
    ):
        return None
    return text


# Phone numbers ---------------------------------------------------------------------------------

_PHONE_EXTENSION = re.compile(r"\s*(?:e?xt?\.?|extension|#|;ext=)\s*\d{1,7}\s*$", re.IGNORECASE)
_FIRST_DIGIT_OR_PLUS = re.compile(r"[+\d]")
_MAX_PHONE_DIGITS = 20  # 15 (E.164 maximum) plus the longest international call prefix


def _with_calling_code(digits: str) -> str | None:
    """`digits` if they start with a known calling code followed by a plausible national number."""
    for size in (1, 2, 3):
        lengths = tables.CALLING_CODE_NSN_LENGTHS.get(digits[:size])
        if lengths is not None:  # calling codes are prefix-free: the first hit is the only one
            return digits if len(digits) - size in lengths else None
    return None


def _resolve_phone(digits: str, plus: bool, region: _PhoneRegion | None) -> str | None:
    if not digits or len(digits) > _MAX_PHONE_DIGITS:
        return None
    if plus:
        return _with_calling_code(digits.lstrip("0"))
    if region is not None:
        calling_code, trunk, intl_prefix, lengths, keeps_zero = region
        if intl_prefix and digits.startswith(intl_prefix):
            international = _with_calling_code(digits[len(intl_prefix) :].lstrip("0"))
            if international:
                return international
        if (
            digits.startswith(calling_code)
            and len(digits) - len(calling_code) in lengths
            and (keeps_zero or digits[len(calling_code)] != "0")
        ):
            return digits  # already international, written without "+"
        national = digits
        if trunk and national.startswith(trunk):
            national = national[len(trunk) :]
        elif not keeps_zero:
            national = national.lstrip("0")
        if len(national) in lengths and (keeps_zero or national[0] != "0"):
            return calling_code + national
    # "00" international prefix, or a foreign number written without "+": Meta drops leading zeros.
    return _with_calling_code(digits.lstrip("0"))


def _norm_phone(text: str, ctx: _Context) -> str | None:
    if "(0)" in text:  # "+44 (0)20 ...": the national trunk 0 written after the calling code
        text = text.replace("(0)", " ")
    extension = _PHONE_EXTENSION.search(text)
    if extension:
        text = text[: extension.start()]
    first = _FIRST_DIGIT_OR_PLUS.search(text)
    if first is None:
        return None
    plus = first.group() == "+"
    # Meta: remove symbols and letters. Digits of any script count (full-width, Arabic-Indic ...).
    if text.isascii():
        digits = text.encode().translate(None, _ASCII_NOT_DIGITS).decode()
    else:
        digits = "".join(str(unicodedata.decimal(ch)) for ch in text if ch.isdecimal())
    return _resolve_phone(digits, plus, ctx.phone_region)


_PHONE_SEPARATORS = b" -()./\t"
_ASCII_NOT_DIGITS = bytes(c for c in range(128) if not chr(c).isdigit())


# Unhashed keys -------------------------------------------------------------------------------

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ZERO_UUID = "00000000-0000-0000-0000-000000000000"


def _norm_madid(text: str, ctx: _Context) -> str | None:
    text = text.lower()
    if len(text) == 32 and not text.strip(_HEX_CHARS):
        text = f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    if not _UUID.fullmatch(text) or text == _ZERO_UUID:
        return None
    return text


_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _norm_extern_id(text: str, ctx: _Context) -> str | None:
    return None if _CONTROL_CHARS.search(text) else text


_DECIMAL_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?")


def _norm_lookalike_value(text: str, ctx: _Context) -> str | None:
    if not text.isascii() or not _DECIMAL_NUMBER.fullmatch(text):
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern only lets decimals through
        return None
    if number < 0 or number >= MAX_LOOKALIKE_VALUE:
        return None
    if number == number.to_integral_value():
        return str(int(number))
    canonical = format(number, "f").rstrip("0")
    return canonical if len(canonical) <= 32 else None


_NORMALISERS: dict[str, Callable[[str, _Context], str | None]] = {
    "EXTERN_ID": _norm_extern_id,
    "EMAIL": _norm_email,
    "PHONE": _norm_phone,
    "GEN": _norm_gender,
    "DOBY": _norm_birth_year,
    "DOBM": _norm_birth_month,
    "DOBD": _norm_birth_day,
    "LN": _norm_name,
    "FN": _norm_name,
    "FI": _norm_first_initial,
    "CT": _norm_name,
    "ST": _norm_state,
    "ZIP": _norm_zip,
    "MADID": _norm_madid,
    "COUNTRY": _norm_country,
    "LOOKALIKE_VALUE": _norm_lookalike_value,
}


# --- Context and the per-value pipeline ------------------------------------------------------

_CONTEXTS: dict[tuple[str | None, int], _Context] = {}


def _context(default_country: str | None) -> _Context:
    if default_country is not None and not isinstance(default_country, str):
        raise ValueError(f"default_country must be an ISO 3166-1 alpha-2 code, not {default_country!r}")
    year = date.today().year
    cached = _CONTEXTS.get((default_country, year))
    if cached is not None:
        return cached
    country = None
    if default_country is not None:
        country = _country_code(default_country) if isinstance(default_country, str) else None
        if country is None:
            raise ValueError(f"unknown default_country {default_country!r}: use an ISO 3166-1 alpha-2 code")
    ctx = _Context(country, tables.PHONE_REGIONS.get(country) if country else None, year)
    if len(_CONTEXTS) < 1000:
        _CONTEXTS[(default_country, year)] = ctx
    return ctx


def _check_key(key: str) -> None:
    if key not in _NORMALISERS:
        raise ValueError(f"unknown match key {key!r}: expected one of {', '.join(SCHEMA_KEYS)}")


def _normalize_text(key: str, raw: object, ctx: _Context) -> tuple[str, str | None]:
    """(classification, normalised value); the value is a lowercase digest when HASHED."""
    text = _to_text(raw, allow_date=key in _DATE_KEYS)
    if text is None:
        return MISSING, None
    if text is _UNUSABLE:
        return INVALID, None
    assert isinstance(text, str)
    if key in HASHED_KEYS and _is_digest(text):
        return HASHED, text.lower()
    normalised = _NORMALISERS[key](text, ctx)
    # Lowercasing can lengthen text ("İ" -> "i̇"): cap the result too, so normalising is idempotent.
    if normalised is None or len(normalised) > MAX_VALUE_CHARS:
        return INVALID, None
    assert isinstance(normalised, str)
    return VALID, normalised


def _hash(text: str) -> str:
    return sha256(text.encode("utf-8")).hexdigest()


def normalize(key: str, raw: object, *, default_country: str | None = None) -> str | None:
    """Meta's normalised form of `raw` for `key`, or None when it is missing or unusable.

    An already-hashed value of a hashed key comes back as the lowercase digest.
    """
    _check_key(key)
    return _normalize_text(key, raw, _context(default_country))[1]


def classify(key: str, raw: object, *, default_country: str | None = None) -> str:
    """One of MISSING, INVALID, HASHED (already a SHA-256 digest), VALID."""
    _check_key(key)
    return _normalize_text(key, raw, _context(default_country))[0]


def _encode_value(key: str, raw: object, ctx: _Context) -> str:
    """What is uploaded for one value; "" when missing or unusable."""
    status, normalised = _normalize_text(key, raw, ctx)
    if normalised is None:
        return ""
    if status == HASHED or key in UNHASHED_KEYS:
        return normalised
    return _hash(normalised)


def encode(key: str, raw: object, *, default_country: str | None = None) -> str | None:
    """What is uploaded for `raw` as `key`, or None when it is missing or unusable."""
    _check_key(key)
    return _encode_value(key, raw, _context(default_country)) or None


# --- Batch form ------------------------------------------------------------------------------
# Column at a time: low-cardinality keys are encoded once per distinct value, emails and phones
# take fast paths for clean values and fall back to the per-value pipeline above, so both forms
# always agree (property and differential tests check it).

_BLOCK_ROWS = 2048
_DISTINCT_LIMIT = 200_000  # above this many distinct values a cache costs more than it saves

# Emails of a block are checked together, with a few C-level passes over their joined text instead
# of Python work per value (the hot path of an EMAIL-only upload). See _scan_emails.
_MISSING_TEXT = "-"  # stands in for None and "" in the joined text: like them, it encodes to ""
_ODD_TEXT = "\x00"  # stands in for a value only the general pipeline can judge
_SPLIT_WHITESPACE = b" \t\r\x0b\x0c"  # what bytes.split() separates on, besides "\n"
_LINE_BREAKING = re.compile(r"[ \t\n\r\x0b\x0c]")
# The "skeleton" of the joined text keeps only what the format check looks at: "@", ".", the "\n"
# between values and every byte that is not printable ASCII ("john.doe@mail.example.com" -> ".@..").
_SKELETON_DELETE = bytes(c for c in range(0x21, 0x7F) if c not in b"@.") + _SPLIT_WHITESPACE
_ODD_BYTES_TO_BANG = bytes(c if c in b"@.\n" else ord("!") for c in range(256))
_EVERY_BYTE_TO_A = bytes(c if c == ord("\n") else ord("a") for c in range(256))
_TOO_LONG_EMAIL = b"a" * (MAX_EMAIL_CHARS + 1)
_LOWER_HEX_BYTES = b"0123456789abcdef"
_NO_MARK = b""  # marks[i] of a value that is not a plain valid address (the empty-bytes singleton)


class _EmailBlock(NamedTuple):
    pieces: list[bytes]  # per value: trimmed and lowercased, UTF-8 (exactly Meta's form when marked)
    marks: list[bytes]  # b"@" where the value is a plain valid address, _NO_MARK where it needs a look
    odd: set[int]  # positions only the general pipeline can judge (their mark is _NO_MARK)


def _line_safe_text(value: object) -> str:
    """`value` when the scan can take it as one line of the joined text, else a stand-in."""
    if value.__class__ is not str:
        return _MISSING_TEXT if value is None else _ODD_TEXT
    assert isinstance(value, str)
    trimmed = value.strip(" \t\r\x0b\x0c")
    if not trimmed:
        return _MISSING_TEXT if not value else _ODD_TEXT
    return _ODD_TEXT if _LINE_BREAKING.search(trimmed) else value


def _add_lines_with(text: bytes, needle: bytes, lines: set[int]) -> None:
    """Add to `lines` the number of every "\n"-separated line of `text` that contains `needle`."""
    find, count = text.find, text.count
    line = line_start = 0
    found = find(needle)
    while found >= 0:
        line += count(b"\n", line_start, found)
        lines.add(line)
        line_start = find(b"\n", found)
        if line_start < 0:
            return
        found = find(needle, line_start)


def _scan_emails(texts: list[str]) -> _EmailBlock | None:
    """Trim, lowercase and check a block of email texts at once; None if the block needs care first.

    `texts` are the block's values, with _MISSING_TEXT for falsy ones. Joined by "\n", encoded and
    lowercased as one bytes object, then split on whitespace, they give each value trimmed when every
    value makes exactly one piece: no value is blank or has whitespace (or "\n") inside. That is
    checked with counts, never assumed: then the pieces are the values, in order. A value is marked as
    a plain valid address when its piece is printable ASCII with one "@", a "." after it and at most
    MAX_EMAIL_CHARS characters: exactly when _norm_email accepts it, and then its piece is the
    normalised form. Everything else (no "@", non-ASCII, control characters ...) is left unmarked for
    the caller; `odd` lists those only the general pipeline can judge.
    """
    count = len(texts)
    if not count:
        return _EmailBlock([], [], set())
    try:
        lowered = "\n".join(texts).encode("utf-8", "surrogatepass").lower()
    except TypeError:  # a value that is not a str
        return None
    pieces = lowered.split()
    # Every byte but "\n" as "a", whitespace dropped: an empty line is a blank value, and 255 "a" in a
    # row a value longer than any valid address.
    shape = lowered.translate(_EVERY_BYTE_TO_A, _SPLIT_WHITESPACE)
    if len(pieces) != count or b"\n\n" in shape or shape[:1] == b"\n" or shape[-1:] == b"\n":
        return None  # a blank value, or one with whitespace or "\n" inside: the counts prove nothing
    skeleton = lowered.translate(None, _SKELETON_DELETE)
    at_signs = skeleton.translate(None, b".")  # per line: "@" for one at-sign, "" for none
    odd: set[int] = set()
    if at_signs.translate(None, b"@\n"):  # control characters, DEL, non-ASCII
        _add_lines_with(at_signs.translate(_ODD_BYTES_TO_BANG), b"!", odd)
    if b"@@" in at_signs:
        _add_lines_with(at_signs, b"@@", odd)
    if b"@\n" in skeleton:  # no "." after the "@"
        _add_lines_with(skeleton, b"@\n", odd)
    if skeleton[-1:] == b"@":
        odd.add(count - 1)
    if _TOO_LONG_EMAIL in shape:
        _add_lines_with(shape, _TOO_LONG_EMAIL, odd)
    marks = at_signs.split(b"\n")
    for position in odd:
        marks[position] = _NO_MARK
    return _EmailBlock(pieces, marks, odd)


def _scan_email_values(values: Sequence[object]) -> _EmailBlock:
    """_scan_emails over raw values; values it cannot take as they are become stand-ins first."""
    try:
        texts = [value or _MISSING_TEXT for value in values]
    except Exception:  # a value whose truth value raises: it gets a stand-in below
        texts = None
    scan = _scan_emails(texts) if texts is not None else None
    if scan is None:
        scan = _scan_emails([_line_safe_text(value) for value in values])
        assert scan is not None  # stand-ins make every value one line and one piece
    return scan


def _unmarked_email(piece: bytes, raw: object, odd: bool, general: Callable[[object], str]) -> str:
    """What is uploaded for a value the scan left unmarked (no "@", odd, or a stand-in)."""
    if piece == b"-":  # _MISSING_TEXT, or a value that trims to "-": "" either way, if a plain str
        return "" if raw is None or raw.__class__ is str else general(raw)
    if len(piece) == 64 and not piece.translate(None, _LOWER_HEX_BYTES):
        return piece.decode()  # already a SHA-256 digest (lowercased by the scan)
    if odd:
        return general(raw)
    return ""  # no "@": a placeholder such as "n/a", or junk


def _encode_email_column(values: Sequence[object], general: Callable[[object], str]) -> list[str]:
    pieces, marks, odd = _scan_email_values(values)
    out = digests(pieces, marks)
    position = -1
    find_unmarked = marks.index
    try:
        while True:
            position = find_unmarked(_NO_MARK, position + 1)
            out[position] = _unmarked_email(pieces[position], values[position], position in odd, general)
    except ValueError:  # no unmarked value left
        return out


def _encode_email_only_block(
    block: list[Sequence[object]],
    start: int,
    accepted_rows: list[list[str]],
    rejected_positions: list[int],
    general: Callable[[object], str],
) -> bool:
    """EMAIL-only rows, straight into accepted rows; False (nothing done) if the block needs care.

    Hashes the marked values and builds their rows in one comprehension, then slots in the few
    unmarked values that are still usable (digests) in order. Rows must be lists or tuples.
    Each unmarked value is judged as _unmarked_email() does, inlined: this loop sees every missing
    value of an upload.
    """
    try:
        texts = [value or _MISSING_TEXT for [value] in block]
    except Exception:  # a row of another length, or a value whose truth value raises
        return False
    scan = _scan_emails(texts)
    if scan is None:
        return False
    pieces, marks, odd = scan
    rows = digest_rows(pieces, marks)
    hex_digits = _LOWER_HEX_BYTES
    taken = 0  # rows already moved to accepted_rows
    unmarked = 0  # unmarked values before `position`
    position = -1
    find_unmarked = marks.index
    try:
        while True:
            position = find_unmarked(_NO_MARK, position + 1)
            piece = pieces[position]
            value = ""
            if piece == b"-":  # None, "" or "-": nothing to upload, unless a non-str stands behind it
                raw = block[position][0]
                if raw is not None and raw.__class__ is not str:
                    value = general(raw)
            elif len(piece) == 64 and not piece.translate(None, hex_digits):
                value = piece.decode()  # already a SHA-256 digest
            elif position in odd:
                value = general(block[position][0])
            if value:
                accepted_rows += rows[taken : position - unmarked]
                taken = position - unmarked
                accepted_rows.append([value])
            else:
                rejected_positions.append(start + position)
            unmarked += 1
    except ValueError:  # no unmarked value left
        pass
    accepted_rows += rows[taken:] if taken else rows
    return True


_ColumnEncoder = Callable[[Sequence[object], Sequence[_Context]], list[str]]


def _email_general(ctx: _Context) -> Callable[[object], str]:
    def general(raw: object) -> str:
        return _encode_value("EMAIL", raw, ctx)

    return general


def _email_encoder(ctx: _Context) -> _ColumnEncoder:
    general = _email_general(ctx)
    return lambda values, contexts: _encode_email_column(values, general)


def _encode_phone_column(column: Sequence[object], contexts: Sequence[_Context]) -> list[str]:
    """Phone numbers; already-clean ones ("+15551234567", "(555) 123-4567") skip the general parser.

    The fast path takes ASCII text of digits, separators and one leading "+" (no "(0)", no possible
    digest) and does what _norm_phone does with it; everything else goes through _encode_value.
    """
    out: list[str] = []
    append = out.append
    separators = _PHONE_SEPARATORS
    resolve = _resolve_phone
    for raw, ctx in zip(column, contexts, strict=True):
        if raw.__class__ is str:
            text = raw.strip()  # type: ignore[attr-defined]
            if text.isascii() and 0 < len(text) < 64 and "(0)" not in text:
                if text.isdigit():
                    digits = resolve(text, False, ctx.phone_region)
                else:
                    compact = text.encode().translate(None, separators)
                    plus = compact[:1] == b"+"
                    if plus:
                        compact = compact[1:]
                    if not compact.isdigit():
                        append(_encode_value("PHONE", raw, ctx))
                        continue
                    digits = resolve(compact.decode(), plus, ctx.phone_region)
                append(sha256(digits.encode()).hexdigest() if digits else "")
                continue
        append(_encode_value("PHONE", raw, ctx))
    return out


def _cached(encode_one: Callable[[object], str]) -> Callable[[Sequence[object]], list[str]]:
    """Encode values through a cache of plain-string values kept across blocks (names, countries ...).

    Only exact str values are cached: 1 == 1.0 == True would otherwise share one entry.
    """
    cache: dict[object, str] = {None: ""}

    def encode_values(values: Sequence[object]) -> list[str]:
        try:
            return list(map(cache.__getitem__, values))  # all seen before: one C-level pass
        except (KeyError, TypeError):
            pass
        out: list[str] = []
        append = out.append
        for raw in values:
            if raw.__class__ is str:
                value = cache.get(raw)
                if value is None:
                    value = encode_one(raw)
                    if len(cache) < _DISTINCT_LIMIT:
                        cache[raw] = value
            elif raw is None:
                value = ""
            else:
                value = encode_one(raw)
            append(value)
        return out

    return encode_values


def _zip_encoder() -> _ColumnEncoder:
    """ZIP codes: plain ASCII text straight to _norm_zip, digests of equal codes computed once.

    A ZIP+4 shares the digest of its five-digit ZIP. The row's country matters only to 9 bare digits.
    """
    hashes: dict[str, str] = {}

    def encode_block(values: Sequence[object], contexts: Sequence[_Context]) -> list[str]:
        out: list[str] = []
        append = out.append
        for raw, ctx in zip(values, contexts, strict=True):
            if raw.__class__ is str:
                text = raw.strip()  # type: ignore[attr-defined]
                size = len(text)
                if text.isascii() and 0 < size <= MAX_VALUE_CHARS and size != 64:
                    code = text if size == 5 and text.isdigit() else _norm_zip(text, ctx)
                    if code is None:
                        append("")
                        continue
                    value = hashes.get(code)
                    if value is None:
                        value = _hash(code)
                        if len(hashes) < _DISTINCT_LIMIT:
                            hashes[code] = value
                    append(value)
                    continue
            append(_encode_value("ZIP", raw, ctx))
        return out

    return encode_block


def _column_encoder(key: str, ctx: _Context) -> _ColumnEncoder:
    if key == "EMAIL":
        return _email_encoder(ctx)
    if key == "PHONE":
        return _encode_phone_column
    if key == "ZIP":
        return _zip_encoder()
    if key in ("EXTERN_ID", "MADID"):  # ids: one value per person, nothing to cache
        return lambda values, contexts: [_encode_value(key, raw, ctx) for raw in values]
    if key in _DATE_KEYS:  # normalised only here: _finish_birth_dates checks and hashes them
        normalise = _cached(lambda raw: _normalize_text(key, raw, ctx)[1] or "")
    else:
        normalise = _cached(lambda raw: _encode_value(key, raw, ctx))
    return lambda values, contexts: normalise(values)


_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _day_exists(year: str, month: int, day: int) -> bool:
    if day <= _DAYS_IN_MONTH[month - 1]:
        if month == 2 and day == 29 and len(year) == 4:
            number = int(year)
            return number % 4 == 0 and (number % 100 != 0 or number % 400 == 0)
        return True
    return False


def _hash_unless_digest(text: object) -> str:
    assert isinstance(text, str)
    return text if not text or len(text) == 64 else _hash(text)


class _BirthDates:
    """Blanks a day that does not exist in its row's month (Feb 30), then hashes DOBY/DOBM/DOBD."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.year = keys.index("DOBY") if "DOBY" in keys else None
        self.month = keys.index("DOBM") if "DOBM" in keys else None
        self.day = keys.index("DOBD") if "DOBD" in keys else None
        self.columns = [index for index in (self.year, self.month, self.day) if index is not None]
        self.hash = _cached(_hash_unless_digest)

    def finish(self, encoded: list[list[str]]) -> None:
        if self.month is not None and self.day is not None:
            months, days = encoded[self.month], encoded[self.day]
            years = encoded[self.year] if self.year is not None else [""] * len(days)
            for position, (year, month, day) in enumerate(zip(years, months, days, strict=True)):
                if len(month) == 2 and len(day) == 2 and not _day_exists(year, int(month), int(day)):
                    days[position] = ""
        for index in self.columns:
            encoded[index] = self.hash(encoded[index])


class _RowContexts:
    """Per row, the context whose default country is the row's own COUNTRY when it has a known one."""

    def __init__(self, keys: Sequence[str], ctx: _Context) -> None:
        self.ctx = ctx
        self.column = keys.index("COUNTRY") if "COUNTRY" in keys else None

        def country_of(raw: object) -> str:
            status, value = _normalize_text("COUNTRY", raw, ctx)
            return value.upper() if status == VALID and value else ""

        self.countries = _cached(country_of)
        self.contexts: dict[str, _Context] = {"": ctx}

    def for_block(self, columns: list[list[object]], count: int) -> Sequence[_Context]:
        if self.column is None:
            return [self.ctx] * count
        countries = self.countries(columns[self.column])
        contexts = self.contexts
        for country in set(countries) - contexts.keys():
            contexts[country] = _context(country)
        return list(map(contexts.__getitem__, countries))


def _check_schema(schema: Sequence[str]) -> list[str]:
    keys = list(schema)
    if not keys:
        raise ValueError("empty schema")
    for key in keys:
        _check_key(key)
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key in schema {keys!r}")
    return keys


_PROMOTE_ROWS = 10_000  # from this many input rows, the new rows skip the young generations


@dataclass
class _GcPause:
    promote: bool = False  # set while paused: move what the collector tracks to its oldest generation


@contextmanager
def _cyclic_gc_paused() -> Iterator[_GcPause]:
    """Pause the cyclic garbage collector while building millions of small acyclic lists.

    Each batch of new lists would otherwise trigger collections that traverse every live row again:
    measured at 1,000,000 rows, building the output rows took 6x longer with it running. Reference
    counting still frees everything; the collector is re-enabled afterwards if it was on.

    With `promote` set, the objects it tracks are first moved to its oldest generation (gc.freeze() then
    gc.unfreeze(), which traverse nothing). Otherwise the first allocation after re-enabling runs a
    young collection that traverses every row list just built (measured at 300,000 EMAIL-only rows:
    about 100 ns a row, a quarter of the time of hashing), and a second one later moves them on; the
    rows are all alive, they are the result. Full collections still see them, as they would have.
    Objects the caller made young just before are promoted as well, so a garbage cycle among them
    waits for the next full collection. Not done when something else froze objects (a pre-fork
    server keeping pages shared): unfreezing would thaw those too.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    pause = _GcPause()
    try:
        yield pause
    finally:
        if was_enabled:
            if pause.promote and not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def encode_rows(
    schema: Sequence[str], rows: Iterable[Sequence[object]], *, default_country: str | None = None
) -> EncodedRows:
    """Encode rows of raw values (schema order) as uploaded; reject rows with no identifying key.

    A row is accepted iff at least one IDENTIFYING key encodes to a usable value. A row that is not
    a list or tuple of len(schema) values is rejected as REJECT_MALFORMED_ROW. When the schema has
    COUNTRY, a row's own recognised country is that row's default country for PHONE and ZIP (a
    British number written "07700 900123" in a row of COUNTRY "UK" gets 44); `default_country`
    applies to the other rows. Each field otherwise equals encode(key, value).
    """
    keys = _check_schema(schema)
    ctx = _context(default_country)
    with _cyclic_gc_paused() as pause:
        rows = rows if isinstance(rows, list) else list(rows)
        pause.promote = len(rows) >= _PROMOTE_ROWS
        return _encode_rows(keys, rows, ctx)


def _encode_rows(keys: list[str], rows: list[Sequence[object]], ctx: _Context) -> EncodedRows:
    # Blocks of rows, every column of a block in turn: the block's values stay in the CPU cache
    # across the column passes (measured at 500,000 six-key rows: 4.7-4.8 µs a row instead of 5.4-5.6).
    width = len(keys)
    total = len(rows)
    encoders = [_column_encoder(key, ctx) for key in keys]
    needs_contexts = "PHONE" in keys or "ZIP" in keys
    row_contexts = _RowContexts(keys, ctx)
    birth_dates = _BirthDates(keys)
    identifying = [index for index, key in enumerate(keys) if key in IDENTIFYING_KEYS]
    getters = [itemgetter(index) for index in range(width)]
    accepted_rows: list[list[str]] = []
    rejected: list[tuple[int, str]] = []
    email_only = keys == ["EMAIL"]
    email_general = _email_general(ctx)
    for start in range(0, total, _BLOCK_ROWS):
        block = rows[start : start + _BLOCK_ROWS]
        if email_only and (countOf(map(type, block), list) == len(block) or set(map(type, block)) <= {list, tuple}):
            unusable: list[int] = []
            if _encode_email_only_block(block, start, accepted_rows, unusable, email_general):
                rejected += [(index, REJECT_NO_IDENTIFYING_KEY) for index in unusable]
                continue
        positions: Sequence[int] = range(start, start + len(block))
        malformed: list[tuple[int, str]] = []
        if not (set(map(type, block)) <= {list, tuple} and set(map(len, block)) <= {width}):
            well_formed = [isinstance(row, list | tuple) and len(row) == width for row in block]
            malformed = [(index, REJECT_MALFORMED_ROW) for index in compress(positions, map(not_, well_formed))]
            positions = list(compress(positions, well_formed))
            block = list(compress(block, well_formed))
        if block:
            columns = [list(map(getter, block)) for getter in getters]
            contexts = row_contexts.for_block(columns, len(block)) if needs_contexts else []
            encoded = [encoder(column, contexts) for encoder, column in zip(encoders, columns, strict=True)]
            if birth_dates.columns:
                birth_dates.finish(encoded)
            accepted = _accepted(encoded, identifying, len(block))
            if width == 1 and identifying:  # the common EMAIL-only upload: skip the zip
                block_rows = [[value] for value in encoded[0] if value]
            else:
                block_rows = list(map(list, compress(zip(*encoded, strict=True), accepted)))
            accepted_rows += block_rows
            if len(block_rows) != len(block):
                malformed += [(index, REJECT_NO_IDENTIFYING_KEY) for index in compress(positions, map(not_, accepted))]
        if malformed:
            rejected += sorted(malformed)
    return EncodedRows(accepted_rows, rejected, total)


def _accepted(encoded: list[list[str]], identifying: list[int], count: int) -> Sequence[object]:
    """Per row, truthy iff at least one identifying key has a usable value."""
    if not identifying:
        return [False] * count
    if len(identifying) == 1:
        return encoded[identifying[0]]  # a non-empty string is truthy
    return list(map(max, *(encoded[index] for index in identifying)))  # "" sorts first

"""Meta's rules for an uploaded `payload`, and the digest the sandbox stores per row.

Rules (Custom Audience Users reference, shared docs section 2 and 3):
- at most 10,000 rows per request;
- `schema` is one single-key name (`EMAIL_SHA256`, `PHONE_SHA256`, `MOBILE_ADVERTISER_ID`)
  with a flat `data` list, or a list of multi-key names with `is_raw: true` and one row
  per person, each exactly as long as the schema;
- hashed keys are SHA-256 as 64 lowercase hex characters: anything else (an email in
  clear text, upper-case hex) is refused, because personal data must never leave in
  clear; MADID, EXTERN_ID and LOOKALIKE_VALUE are sent unhashed;
- a row with no value at all is an invalid entry (counted, not stored).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter, or_
from typing import Any

from integrations.sandbox import conf, matching
from integrations.sandbox import graph_errors as refuse

MAX_ROWS = 10_000
HASHED_KEYS = frozenset(
    {"EMAIL", "PHONE", "GEN", "DOBY", "DOBM", "DOBD", "LN", "FN", "FI", "CT", "ST", "ZIP", "COUNTRY"}
)
RAW_KEYS = frozenset({"EXTERN_ID", "MADID", "LOOKALIKE_VALUE"})
SINGLE_KEY_SCHEMAS = {"EMAIL_SHA256": "EMAIL", "PHONE_SHA256": "PHONE", "MOBILE_ADVERTISER_ID": "MADID"}
MATCHED_BY_HASH = ("EMAIL", "PHONE")

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_MADID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_MAX_SAMPLES = 10
_LITTLE_ENDIAN = sys.byteorder == "little"


@dataclass
class ParsedRows:
    schema: list[str]
    keys: list[int] = field(default_factory=list)
    matched: list[bool] = field(default_factory=list)
    num_received: int = 0
    num_invalid_entries: int = 0
    invalid_entry_samples: dict[str, str] = field(default_factory=dict)
    # The population the rows were matched against: a row's match is a function of its
    # values and this size alone.
    population_size: int = 0


def _json(value: Any, name: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise refuse.invalid_parameter(f"Param {name} must be a JSON object") from None
    return value


def parse_schema(payload: dict[str, Any]) -> tuple[list[str], bool]:
    """(schema as a list, True when the payload uses a single-key schema)."""
    schema = payload.get("schema")
    if isinstance(schema, str):
        if schema not in SINGLE_KEY_SCHEMAS:
            raise refuse.invalid_parameter(f"Invalid schema: {schema}")
        return [SINGLE_KEY_SCHEMAS[schema]], True
    if not isinstance(schema, list) or not schema:
        raise refuse.invalid_parameter("The parameter payload[schema] is required", code=100)
    unknown = [key for key in schema if key not in HASHED_KEYS | RAW_KEYS]
    if unknown:
        raise refuse.invalid_parameter(f"Invalid schema: unknown key(s) {', '.join(map(str, unknown))}")
    if len(set(schema)) != len(schema):
        raise refuse.invalid_parameter("Invalid schema: a key appears twice")
    if not _truthy(payload.get("is_raw")):
        raise refuse.invalid_parameter("A multi-key schema needs is_raw set to true")
    return list(schema), False


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true") or value == 1


def parse_payload(raw_payload: Any) -> ParsedRows:
    """Validate a payload and turn it into per-row keys with their match flags."""
    payload = _json(raw_payload, "payload")
    if not isinstance(payload, dict):
        raise refuse.invalid_parameter("The parameter payload is required")
    schema, single_key = parse_schema(payload)
    data = payload.get("data")
    if not isinstance(data, list):
        raise refuse.invalid_parameter("The parameter payload[data] is required")
    if len(data) > MAX_ROWS:
        raise refuse.too_many_rows(len(data), MAX_ROWS)
    rows = _rows_checked([[value] for value in data] if single_key else data, len(schema))
    for position, key in enumerate(schema):
        _column_check(key, list(map(itemgetter(position), rows)))
    parsed = ParsedRows(schema=schema, num_received=len(rows))
    _keys_and_matches(parsed, schema, rows)
    return parsed


def _keys_and_matches(parsed: ParsedRows, schema: list[str], rows: list[list[str]]) -> None:
    """The hot part (10,000 rows a call): one key per row, and whether it matches a Facebook person.

    Rows holding every value (the usual request) are done in bulk: one %-format per row
    builds the canonical form `row_key` defines, the digests are read as one array, and
    the hashed match keys are decoded from hex in one call. Rows with empty values take
    the general path row by row, as do MADIDs (hashed here before the lookup).
    """
    parsed.population_size = conf.population_size()
    index = matching.facebook_keys(parsed.population_size)
    order = sorted(range(len(schema)), key=schema.__getitem__)
    complete: list[list[str]] = []
    partial: list[tuple[int, list[str]]] = []
    if "" in chain.from_iterable(rows):
        for number, values in enumerate(rows):
            if "" in values:
                partial.append((number, values))
            else:
                complete.append(values)
    else:
        complete = rows
    if complete:
        full_row = "\x1f".join(f"{schema[i]}=%s" for i in order)  # schema keys are known names, without "%"
        parsed.keys += _row_keys(map(full_row.__mod__, map(itemgetter(*order), complete)))
        parsed.matched += _matches(schema, complete, index)
    prefixes = [f"{key}=" for key in schema]
    for number, values in partial:
        parts = [prefixes[i] + values[i] for i in order if values[i]]
        if not parts:
            parsed.num_invalid_entries += 1
            if len(parsed.invalid_entry_samples) < _MAX_SAMPLES:
                parsed.invalid_entry_samples[str(number)] = "row without any key value"
            continue
        parsed.keys += _row_keys(["\x1f".join(parts)])
        parsed.matched += _matches(schema, [values], index)


def _row_keys(canonical_rows: Iterable[str]) -> list[int]:
    """Each row's key: the first 8 bytes of the SHA-256 of its canonical form, big-endian, signed."""
    sha256 = hashlib.sha256
    # Four 8-byte items per 32-byte digest: every fourth item is a digest's first 8 bytes.
    keys = array("q", b"".join([sha256(text.encode()).digest() for text in canonical_rows]))[::4]
    if _LITTLE_ENDIAN:
        keys.byteswap()
    return keys.tolist()


def _matches(schema: list[str], rows: list[list[str]], index: matching.KeyIndex) -> list[bool]:
    """Whether each row's EMAIL, PHONE or MADID belongs to a Facebook person (checked in that order)."""
    is_facebook_key = index.contains
    hits: list[bool] | None = None
    for position, key in enumerate(schema):
        if key not in MATCHED_BY_HASH:
            continue
        column = [values[position] for values in rows]
        if "" in column:  # rows of the general path: one at a time
            found = [bool(value) and is_facebook_key(int(value[:16], 16)) for value in column]
        else:
            # Checked as 64 lowercase hex digits already: the first 8 of every 32 bytes.
            prefixes = array("Q", bytes.fromhex("".join(column)))[::4]
            if _LITTLE_ENDIAN:
                prefixes.byteswap()
            found = list(map(is_facebook_key, prefixes)) if hits is None else [
                hit or is_facebook_key(prefix) for hit, prefix in zip(hits, prefixes, strict=True)
            ]
        hits = found if hits is None else list(map(or_, hits, found))
    if hits is None:
        hits = [False] * len(rows)
    if "MADID" in schema:
        position = schema.index("MADID")
        hits = [
            hit or (bool(values[position]) and is_facebook_key(matching.madid_prefix(values[position])))
            for hit, values in zip(hits, rows, strict=True)
        ]
    return hits


def _rows_checked(rows: list[Any], width: int) -> list[list[str]]:
    """Every row a list of the schema's length, of strings (numbers as text, null as empty)."""
    # The usual request, checked at C speed: lists of the right length holding strings only.
    if (
        set(map(type, rows)) <= {list}
        and set(map(len, rows)) <= {width}
        and set(map(type, chain.from_iterable(rows))) <= {str}
    ):
        return rows
    checked = []
    for number, row in enumerate(rows):
        if row.__class__ is not list or len(row) != width:
            length = len(row) if isinstance(row, list) else "not a list"
            raise refuse.invalid_parameter(
                f"Invalid data: row {number} has {length} values; the schema has {width} keys"
            )
        for value in row:
            if value.__class__ is not str:
                row = [_scalar(item, number) for item in row]
                break
        checked.append(row)
    return checked


def _scalar(value: Any, number: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if value is None:
        return ""
    raise refuse.invalid_parameter(f"Invalid data: row {number} holds a value that is not a string")


_HEX_DIGITS = b"0123456789abcdef"


def _column_check(key: str, column: list[str]) -> None:
    """Refuse the request at the first value that breaks the key's rule (one pass per column when all is well)."""
    present = list(filter(None, column))
    if key in HASHED_KEYS:
        joined = "".join(present)
        # Lowercase hex only: deleting every hex digit from the ASCII bytes leaves nothing.
        if set(map(len, present)) <= {64} and joined.isascii() and not joined.encode().translate(None, _HEX_DIGITS):
            return
        number = next(i for i, value in enumerate(column) if value and not _SHA256_HEX.fullmatch(value))
        raise refuse.invalid_parameter(
            f"Invalid data: the {key} value of row {number} is not hashed. {key} must be sent as SHA-256, "
            "64 lowercase hexadecimal characters"
        )
    rule = {"MADID": _MADID, "LOOKALIKE_VALUE": _NUMBER}.get(key)
    if rule is None:
        return
    for number, value in enumerate(column):
        if value and not rule.fullmatch(value):
            what = "an unhashed advertising id in lower case" if key == "MADID" else "a number"
            raise refuse.invalid_parameter(f"Invalid data: the {key} of row {number} must be {what}")


def _key_ordered(schema: Sequence[str], values: Sequence[str], order: Sequence[int]) -> int:
    # Keyed by name, sorted, empties left out: the same person uploaded with the schema
    # in another order is the same stored row.
    canonical = "\x1f".join(f"{schema[i]}={values[i]}" for i in order if values[i])
    return int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:8], "big", signed=True)


def row_key(schema: Sequence[str], row: Sequence[str]) -> int:
    """The 64-bit digest the sandbox stores for one uploaded row."""
    order = sorted(range(len(schema)), key=schema.__getitem__)
    return _key_ordered(schema, list(row), order)


def membership_digest(sorted_keys: Iterable[int]) -> str:
    """SHA-256 over row keys in ascending order (8 bytes each, big-endian, signed)."""
    combined = hashlib.sha256()
    for key in sorted_keys:
        combined.update(key.to_bytes(8, "big", signed=True))
    return combined.hexdigest()


def parse_session(raw_session: Any) -> dict[str, Any] | None:
    session = _json(raw_session, "session")
    if session in (None, ""):
        return None
    if not isinstance(session, dict):
        raise refuse.invalid_parameter("Param session must be a JSON object")
    try:
        session_id = int(session["session_id"])
        batch_seq = int(session["batch_seq"])
    except (KeyError, TypeError, ValueError):
        raise refuse.invalid_parameter("session needs an integer session_id and batch_seq") from None
    if session_id <= 0 or batch_seq <= 0:
        raise refuse.invalid_parameter("session_id and batch_seq must be positive")
    estimated = session.get("estimated_num_total")
    return {
        "session_id": session_id,
        "batch_seq": batch_seq,
        "last_batch_flag": _truthy(session.get("last_batch_flag")),
        "estimated_num_total": int(estimated) if str(estimated or "").isdigit() else None,
    }

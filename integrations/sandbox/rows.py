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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from integrations.sandbox import graph_errors as refuse
from integrations.sandbox import matching

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


@dataclass
class ParsedRows:
    schema: list[str]
    digests: list[bytes] = field(default_factory=list)
    matched: list[bool] = field(default_factory=list)
    num_received: int = 0
    num_invalid_entries: int = 0
    invalid_entry_samples: dict[str, str] = field(default_factory=dict)


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
    """Validate a payload and turn it into per-row digests with their match flags."""
    payload = _json(raw_payload, "payload")
    if not isinstance(payload, dict):
        raise refuse.invalid_parameter("The parameter payload is required")
    schema, single_key = parse_schema(payload)
    data = payload.get("data")
    if not isinstance(data, list):
        raise refuse.invalid_parameter("The parameter payload[data] is required")
    if len(data) > MAX_ROWS:
        raise refuse.too_many_rows(len(data), MAX_ROWS)
    rows = [[value] for value in data] if single_key else data
    parsed = ParsedRows(schema=schema, num_received=len(rows))
    index = matching.facebook_keys()
    order = sorted(range(len(schema)), key=schema.__getitem__)
    checks = [_checker(key) for key in schema]
    match_positions = [i for i, key in enumerate(schema) if key in MATCHED_BY_HASH]
    madid_position = schema.index("MADID") if "MADID" in schema else None
    width = len(schema)
    for number, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            length = len(row) if isinstance(row, list) else "not a list"
            raise refuse.invalid_parameter(
                f"Invalid data: row {number} has {length} values; the schema has {width} keys"
            )
        values = [value if isinstance(value, str) else _scalar(value, number) for value in row]
        if not any(values):
            parsed.num_invalid_entries += 1
            if len(parsed.invalid_entry_samples) < _MAX_SAMPLES:
                parsed.invalid_entry_samples[str(number)] = "row without any key value"
            continue
        for position, value in enumerate(values):
            if value:
                checks[position](value, number)
        parsed.digests.append(_digest_ordered(schema, values, order))
        parsed.matched.append(_matches(index, values, match_positions, madid_position))
    return parsed


def _scalar(value: Any, number: int) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if value is None:
        return ""
    raise refuse.invalid_parameter(f"Invalid data: row {number} holds a value that is not a string")


def _checker(key: str):
    if key in HASHED_KEYS:

        def check_hashed(value: str, number: int) -> None:
            if not _SHA256_HEX.fullmatch(value):
                raise refuse.invalid_parameter(
                    f"Invalid data: the {key} value of row {number} is not hashed. {key} must be sent as "
                    "SHA-256, 64 lowercase hexadecimal characters"
                )

        return check_hashed
    if key == "MADID":

        def check_madid(value: str, number: int) -> None:
            if not _MADID.fullmatch(value):
                raise refuse.invalid_parameter(
                    f"Invalid data: the MADID of row {number} must be an unhashed advertising id in lower case"
                )

        return check_madid
    if key == "LOOKALIKE_VALUE":

        def check_number(value: str, number: int) -> None:
            if not _NUMBER.fullmatch(value):
                raise refuse.invalid_parameter(f"Invalid data: LOOKALIKE_VALUE of row {number} is not a number")

        return check_number

    def accept(value: str, number: int) -> None:
        return None

    return accept


def _matches(index, values: list[str], hashed: list[int], madid_position: int | None) -> bool:
    for position in hashed:
        value = values[position]
        if value and matching.contains(index, int(value[:16], 16)):
            return True
    if madid_position is not None and values[madid_position]:
        return matching.contains(index, matching.madid_prefix(values[madid_position]))
    return False


def _digest_ordered(schema: Sequence[str], values: Sequence[str], order: Sequence[int]) -> bytes:
    # Keyed by name, sorted, empties left out: the same person uploaded with the schema
    # in another order is the same stored row.
    canonical = "\x1f".join(f"{schema[i]}={values[i]}" for i in order if values[i])
    return hashlib.sha256(canonical.encode()).digest()


def row_digest(schema: Sequence[str], row: Sequence[str]) -> bytes:
    """The 32-byte digest the sandbox stores for one uploaded row."""
    order = sorted(range(len(schema)), key=schema.__getitem__)
    return _digest_ordered(schema, list(row), order)


def rows_digest_from_row_digests(digests: Iterable[bytes]) -> str:
    """SHA-256 over the sorted, distinct row digests: a fingerprint of a membership."""
    combined = hashlib.sha256()
    for digest in sorted(set(digests)):
        combined.update(digest)
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

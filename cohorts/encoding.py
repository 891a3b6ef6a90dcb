"""The one definition of a member's stored form: its row JSON and its 64-bit row hash.

The sync engine compares `CohortMember.row_hash` with its ledger
(`syncs.models.AudienceMember.row_hash`) and concatenates `CohortMember.row` texts into
request bodies, so both sides must serialise a row exactly as this module does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_sha256 = hashlib.sha256


def row_json(row: Sequence[str]) -> str:
    """The compact JSON array of a row's values as uploaded, in the project's schema order."""
    return _dumps(list(row))


def row_hash_of_json(text: str) -> int:
    """First 8 bytes of SHA-256 over the JSON's UTF-8, as a big-endian signed int64."""
    return int.from_bytes(_sha256(text.encode("utf-8")).digest()[:8], "big", signed=True)


def row_serialize(row: Sequence[str]) -> tuple[str, int]:
    """(row JSON, row hash) of one encoded member row."""
    text = _dumps(list(row))
    return text, int.from_bytes(_sha256(text.encode("utf-8")).digest()[:8], "big", signed=True)

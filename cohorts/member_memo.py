"""What a cohort's members encoded to last time, so that an unchanged member is not encoded again.

Amplitude sends the whole cohort on every refresh although a day changes about 1% of it,
and encoding a member (normalise and SHA-256 every key, then the row's JSON and its hash)
costs about 4 us with two keys: 4 s a refresh for a million members. The memo maps a
64-bit digest of a member's raw values, as read from the file in the mapping's column
order, to the row hash they encoded to; the refresh looks a member up (about 1 us) and
encodes only the members it does not find.

It is a memo of a pure function: the same raw values under the same mapping and the same
encoder always encode to the same row, so an entry can be missing but never wrong. The
memo's file is named after the mapping's fingerprint and a digest of the encoder's source
(a mapping or code change starts a new memo), and a hit counts only when the row it
names is still stored for the cohort; everything else is encoded as before. Raw values
holding the separator get no digest (the join would be ambiguous) and are always encoded.
The chance that two different members' raw values share a digest is that of two rows
sharing a 64-bit row hash, which the stored members already accept.

One file per cohort under settings.COHORT_MEMBER_CACHE_DIR (empty: no memo), on the
worker's local disk: a refresh on another machine, or after the file was lost, encodes
everything, as it would without a memo. 16 bytes per member (16 MB for a million),
sorted by digest, written atomically.
"""

from __future__ import annotations

import hashlib
import logging
import operator
import os
import tempfile
from array import array
from bisect import bisect_left
from itertools import compress
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

SEPARATOR = "\x1f"
_MAGIC = b"cohort-member-memo-1\n"
# The encoder: the match-key rules and tables, and the stored row form.
_ENCODER_MODULES = ("integrations.facebook.match_keys", "integrations.facebook.match_key_tables", "cohorts.encoding")
_encoder_version: str | None = None


class SortedKeys:
    """Where a 64-bit key is in a sorted array, searching only its bucket (same top bits).

    Reading an array item makes a Python int, so a binary search over a million items (20
    reads) costs most of a microsecond; buckets of about 16 keys need 4 or 5 reads. Hot
    loops inline `position` with the public attributes.
    """

    def __init__(self, keys: array) -> None:
        self.keys = keys
        bits = min(16, max(0, len(keys).bit_length() - 4))
        # Signed keys are moved up to 0..2**64 first, so the top bits number the buckets in order.
        self.offset = 1 << 63 if keys.typecode == "q" else 0
        self.shift = 64 - bits
        first_keys = ((bucket << self.shift) - self.offset for bucket in range(1 << bits))
        self.starts = array("Q", (bisect_left(keys, first) for first in first_keys))
        self.starts.append(len(keys))

    def __len__(self) -> int:
        return len(self.keys)

    def position(self, key: int) -> int:
        """The key's index in the array, or -1."""
        bucket = (key + self.offset) >> self.shift
        end = self.starts[bucket + 1]
        index = bisect_left(self.keys, key, self.starts[bucket], end)
        return index if index < end and self.keys[index] == key else -1


def encoder_version() -> str:
    """A digest of the encoder's source: a new version of the rules never reuses old results."""
    global _encoder_version
    if _encoder_version is None:
        import importlib

        digest = hashlib.sha256()
        for name in _ENCODER_MODULES:
            digest.update(Path(importlib.import_module(name).__file__ or "").read_bytes())
        _encoder_version = digest.hexdigest()[:12]
    return _encoder_version


def raw_digests(values: list[tuple[str, ...]], *, width: int) -> list[int | None]:
    """A 64-bit digest of each row's raw values (None when a value holds the separator)."""
    blake2b, from_bytes = hashlib.blake2b, int.from_bytes
    separators = width - 1
    joined = list(map(SEPARATOR.join, values))
    return [
        from_bytes(blake2b(text.encode(), digest_size=8).digest(), "big") if text.count(SEPARATOR) == separators
        else None
        for text in joined
    ]


def memo_dir() -> Path | None:
    configured = getattr(settings, "COHORT_MEMBER_CACHE_DIR", None)
    if configured is None:
        return Path(tempfile.gettempdir()) / "cohort-sync-members"
    return Path(configured) if configured else None


class MemberMemo:
    """The memo read from a cohort's file, and the next one, built while the refresh reads the file."""

    def __init__(self, *, cohort_id: int, fingerprint: str, digests: array, row_hashes: array) -> None:
        self.cohort_id = cohort_id
        self.fingerprint = fingerprint
        self.index = SortedKeys(digests)
        self.row_hashes = row_hashes
        self.kept_marks = bytearray(len(digests))  # entries met again: carried into the next memo
        self._new: list[int] = []  # (digest, row hash) of members encoded this time, packed

    @classmethod
    def load(cls, *, cohort_id: int, fingerprint: str) -> MemberMemo:
        digests, row_hashes = array("Q"), array("q")
        path = _path(cohort_id, fingerprint)
        if path is not None and path.is_file():
            try:
                data = path.read_bytes()
                count = int.from_bytes(data[len(_MAGIC) : len(_MAGIC) + 8], "big")
                body = data[len(_MAGIC) + 8 :]
                if not data.startswith(_MAGIC) or len(body) != 16 * count:
                    raise ValueError("not a complete memo file")
                digests.frombytes(body[: 8 * count])
                row_hashes.frombytes(body[8 * count :])
            except (OSError, ValueError) as error:  # a broken cache only costs a full encode
                logger.warning("Ignoring the member memo of cohort %s: %s", cohort_id, error)
                digests, row_hashes = array("Q"), array("q")
        return cls(cohort_id=cohort_id, fingerprint=fingerprint, digests=digests, row_hashes=row_hashes)

    @property
    def enabled(self) -> bool:
        return _path(self.cohort_id, self.fingerprint) is not None

    def __len__(self) -> int:
        return len(self.index)

    def keep(self, position: int) -> None:
        self.kept_marks[position] = 1

    def add(self, digest: int, row_hash: int) -> None:
        self._new.append((digest << 64) | (row_hash & _MASK))  # one int per entry sorts fastest

    def save(self) -> None:
        """Write the next memo (the entries met again, plus the new ones) in place of the old."""
        path = _path(self.cohort_id, self.fingerprint)
        if path is None:
            return
        digests, row_hashes = self._next_entries()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
            with open(partial, "wb") as out:
                out.write(_MAGIC + len(digests).to_bytes(8, "big"))
                digests.tofile(out)
                row_hashes.tofile(out)
            os.replace(partial, path)
            for stale in path.parent.glob(f"cohort-{self.cohort_id}-*.memo"):
                if stale != path:
                    stale.unlink(missing_ok=True)
        except OSError as error:
            logger.warning("Could not write the member memo of cohort %s: %s", self.cohort_id, error)

    def _next_entries(self) -> tuple[array, array]:
        kept_digests = array("Q", compress(self.index.keys, self.kept_marks))
        kept_hashes = array("q", compress(self.row_hashes, self.kept_marks))
        new = sorted(set(self._new))
        if len(new) > len(kept_digests) // 8:
            # Mostly new (a first refresh): sort everything, one int per entry.
            if kept_digests:
                packed = (d << 64 | (h & _MASK) for d, h in zip(kept_digests, kept_hashes, strict=True))
                new = sorted(set(new).union(packed))
            return _unique(array("Q", [entry >> 64 for entry in new]), array("q", [_signed(entry) for entry in new]))
        # A few new entries: slot them in between runs of the kept ones.
        new_digests, new_hashes = _unique(array("Q", [e >> 64 for e in new]), array("q", [_signed(e) for e in new]))
        digests, row_hashes = array("Q"), array("q")
        start = 0
        for digest, row_hash in zip(new_digests, new_hashes, strict=True):
            position = bisect_left(kept_digests, digest, start)
            digests.extend(kept_digests[start:position])
            row_hashes.extend(kept_hashes[start:position])
            if position < len(kept_digests) and kept_digests[position] == digest:
                position += 1  # the same member, met both ways
            digests.append(digest)
            row_hashes.append(row_hash)
            start = position
        digests.extend(kept_digests[start:])
        row_hashes.extend(kept_hashes[start:])
        return digests, row_hashes


_MASK = (1 << 64) - 1


def _signed(entry: int) -> int:
    """The row hash (low 64 bits of a packed entry) back as a signed int64."""
    value = entry & _MASK
    return value - (1 << 64) if value >= 1 << 63 else value


def _unique(digests: array, row_hashes: array) -> tuple[array, array]:
    """One entry per digest: two row hashes for one digest (a digest collision) drop both."""
    if len(digests) < 2 or all(map(operator.lt, digests, digests[1:])):
        return digests, row_hashes
    keep = bytearray(b"\x01") * len(digests)
    for index in range(1, len(digests)):
        if digests[index] == digests[index - 1]:
            keep[index] = keep[index - 1] = 0
    return array("Q", compress(digests, keep)), array("q", compress(row_hashes, keep))


def _path(cohort_id: int, fingerprint: str) -> Path | None:
    directory = memo_dir()
    if directory is None or not fingerprint:
        return None
    return directory / f"cohort-{cohort_id}-{fingerprint}-{encoder_version()}.memo"

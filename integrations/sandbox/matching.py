"""Which uploaded rows match a Facebook person of the synthetic population.

A row matches when one of its EMAIL or PHONE hashes, or its MADID, belongs to a person
of `population.py` who is on Facebook, as Meta matches a row to one person. The index
holds the first 8 bytes of each key's SHA-256 as a sorted array (8 bytes per key, about
17 MB for a million people) and is cached in a file, because computing the population
costs about 10 seconds per million people.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import os
import tempfile
import threading
from array import array
from pathlib import Path

from integrations.sandbox import conf, population

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_BITMAP_BITS = 27  # a 16 MB bitmap answers most misses without a binary search


_BUCKET_BITS = 16  # the binary search runs inside a bucket of about 30 keys, not the whole array


class KeyIndex:
    """Exact membership of 64-bit key prefixes: a bitmap first, then a binary search in a bucket."""

    def __init__(self, keys: array) -> None:
        self.keys = keys
        self.bitmap = bytearray(1 << (_BITMAP_BITS - 3))
        shift = 64 - _BITMAP_BITS
        for key in keys:
            slot = key >> shift
            self.bitmap[slot >> 3] |= 1 << (slot & 7)
        # Where each bucket of keys (same top bits) starts in the sorted array: reading an
        # array item makes an int, so 5 comparisons instead of 21 save most of a lookup.
        step = 1 << (64 - _BUCKET_BITS)
        self.bucket_starts = array("Q", (bisect.bisect_left(keys, b * step) for b in range(1 << _BUCKET_BITS)))
        self.bucket_starts.append(len(keys))

    def __len__(self) -> int:
        return len(self.keys)

    def contains(self, prefix: int) -> bool:
        slot = prefix >> (64 - _BITMAP_BITS)
        if not self.bitmap[slot >> 3] & (1 << (slot & 7)):
            return False
        bucket = prefix >> (64 - _BUCKET_BITS)
        end = self.bucket_starts[bucket + 1]
        position = bisect.bisect_left(self.keys, prefix, self.bucket_starts[bucket], end)
        return position < end and self.keys[position] == prefix


_indexes: dict[int, KeyIndex] = {}


def _prefix(hex_digest: str) -> int:
    return int(hex_digest[:16], 16)


def madid_prefix(madid: str) -> int:
    return _prefix(hashlib.sha256(madid.lower().encode()).hexdigest())


def _cache_path(size: int) -> Path:
    seed = hashlib.sha256(population.POPULATION_SEED).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / "cohort-sync-sandbox" / f"facebook-keys-{seed}-{size}.bin"


def _build(size: int) -> array:
    sha = hashlib.sha256
    keys: list[int] = []
    for index in range(size):
        person = population.person(index)
        if person.on_facebook:
            keys.append(_prefix(sha(person.email.encode()).hexdigest()))
            keys.append(_prefix(sha(person.phone.encode()).hexdigest()))
            keys.append(madid_prefix(person.device_id))
    keys.sort()
    return array("Q", keys)


def _load_or_build(size: int) -> array:
    path = _cache_path(size)
    if path.is_file():
        index = array("Q")
        index.frombytes(path.read_bytes())
        return index
    logger.info("Building the sandbox's Facebook population index for %s people (once per machine).", size)
    index = _build(size)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        partial.write_bytes(index.tobytes())
        partial.replace(path)
    except OSError:  # a read-only temp dir only costs a rebuild next time
        logger.warning("Could not cache the sandbox population index at %s", path)
    return index


def facebook_keys(size: int | None = None) -> KeyIndex:
    """The key prefixes of the Facebook people among the first `size`."""
    size = conf.population_size() if size is None else size
    index = _indexes.get(size)
    if index is None:
        with _lock:
            index = _indexes.get(size)
            if index is None:
                index = _indexes[size] = KeyIndex(_load_or_build(size))
    return index


def warm_up_in_background() -> threading.Thread:
    """Load the index while the server starts, so the first upload does not wait."""
    thread = threading.Thread(target=facebook_keys, name="sandbox-population-index", daemon=True)
    thread.start()
    return thread

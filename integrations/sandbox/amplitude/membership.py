"""Who is in a sandbox cohort, as a pure function of its shape: no stored members.

People 0..P-1 of the shared population form the cohort's pool. A seeded affine
permutation gives every person a fixed position in 0..P-1; the cohort is the window of
`size` consecutive positions starting at `shift` (modulo P). Moving the window by k
makes exactly k members leave and k join, and the size never changes. Hourly drift
moves it on its own; scripts move it by hand (`shift`), and mark windows of members
whose email changed (`email_windows`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

ANONYMOUS_PER_MILLE = 20  # 2% of members are anonymous: no user_id, as in real exports


@dataclass(frozen=True)
class CohortShape:
    size: int
    seed: int
    pool_size: int
    shift: int
    email_windows: tuple[tuple[int, int], ...] = ()

    def key(self) -> str:
        """Identifies the membership (and so the export file) exactly."""
        text = f"{self.size}:{self.seed}:{self.pool_size}:{self.shift % self.pool_size}:{self.email_windows}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Permutation:
    multiplier: int
    offset: int
    inverse: int
    modulus: int

    def position(self, index: int) -> int:
        return (self.multiplier * index + self.offset) % self.modulus

    def index(self, position: int) -> int:
        return ((position - self.offset) * self.inverse) % self.modulus


def permutation(seed: int, pool_size: int) -> Permutation:
    if pool_size < 2:
        return Permutation(1, 0, 1, max(pool_size, 1))
    digest = hashlib.blake2b(f"amplitude-sandbox:{seed}".encode(), digest_size=16).digest()
    multiplier = int.from_bytes(digest[:8], "big") % pool_size
    while multiplier < 2 or math.gcd(multiplier, pool_size) != 1:
        multiplier = (multiplier + 1) % pool_size
        if pool_size == 2:
            multiplier = 1
            break
    offset = int.from_bytes(digest[8:], "big") % pool_size
    return Permutation(multiplier, offset, pow(multiplier, -1, pool_size), pool_size)


def member_indexes(shape: CohortShape) -> Iterator[tuple[int, int]]:
    """(population index, position) of every member, in the cohort's order."""
    perm = permutation(shape.seed, shape.pool_size)
    modulus, offset, inverse = perm.modulus, perm.offset, perm.inverse
    start = shape.shift % modulus
    for slot in range(shape.size):
        position = (start + slot) % modulus
        yield ((position - offset) * inverse) % modulus, position


def is_member(shape: CohortShape, index: int) -> bool:
    if not 0 <= index < shape.pool_size:
        return False
    position = permutation(shape.seed, shape.pool_size).position(index)
    return (position - shape.shift) % shape.pool_size < shape.size


def email_variant(shape: CohortShape, position: int) -> int:
    """How many times this member's email changed (the windows they were in)."""
    modulus = shape.pool_size
    return sum(1 for first, count in shape.email_windows if (position - first) % modulus < count)


def is_anonymous(index: int) -> bool:
    return (index * 2654435761) % 1000 < ANONYMOUS_PER_MILLE


def drift_hours(anchor: datetime, at: datetime) -> int:
    return max(0, int((at - anchor).total_seconds() // 3600))

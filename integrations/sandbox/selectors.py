"""Reads of the sandbox's state: audience sizes the way Meta reports them, membership digests.

Reads of an audience's members first apply its logged uploads (`member_log.members_settle`),
so every answer is what applying each call as it arrived would give.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from integrations.sandbox.member_log import members_settle
from integrations.sandbox.models import SandboxAudience, SandboxAudienceMember, SandboxUploadSession
from integrations.sandbox.rows import membership_digest, row_key

# Meta shows small audiences as "below 1000"; the sandbox reports them as the range
# lower 0 / upper 1000 (the client's `Audience.size_label` reads it as "below 1,000").
SMALL_AUDIENCE_LIMIT = 1000
# Above it, the lower bound is the matched count cut to two significant digits, and the
# upper bound 17.5% above that (12,345 -> 12,000 - 14,100): the true count always lies
# inside, since cutting to two digits loses less than 10%.
UPPER_BOUND_FACTOR = 1.175
MIN_DELIVERABLE = 100


def approximate_bounds(matched: int) -> tuple[int, int]:
    if matched < SMALL_AUDIENCE_LIMIT:
        return 0, SMALL_AUDIENCE_LIMIT
    step = 10 ** (len(str(matched)) - 2)
    lower = matched // step * step
    return lower, int(lower * UPPER_BOUND_FACTOR)


@dataclass(frozen=True)
class AudienceSize:
    rows: int
    matched: int

    @property
    def bounds(self) -> tuple[int, int]:
        return approximate_bounds(self.matched)


def audience_size(*, audience: SandboxAudience) -> AudienceSize:
    members_settle(audience_pk=audience.pk)
    counts = SandboxAudience.objects.filter(pk=audience.pk).values_list("rows_held", "rows_matched").first()
    rows, matched = counts or (0, 0)
    return AudienceSize(rows=rows, matched=matched)


def audience_has_open_session(*, audience: SandboxAudience) -> bool:
    return SandboxUploadSession.objects.filter(audience=audience, closed=False).exists()


def audience_rows_digest(rows: Iterable[Sequence[str]], *, schema: Sequence[str]) -> str:
    """What `sandbox_audience` prints for an audience holding exactly these rows (as uploaded).

    Rows with no value at all are left out, as the sandbox does not store them.
    """
    return membership_digest(sorted({row_key(schema, row) for row in rows if any(row)}))


def audience_stored_digest(*, audience: SandboxAudience) -> tuple[int, str]:
    """(rows held, SHA-256 over the sorted stored row keys), streamed from the database."""
    members_settle(audience_pk=audience.pk)
    count = 0

    def counted(keys: Iterable[int]) -> Iterable[int]:
        nonlocal count
        for key in keys:
            count += 1
            yield key

    keys = (
        SandboxAudienceMember.objects.filter(audience=audience)
        .order_by("row_key")
        .values_list("row_key", flat=True)
        .iterator(chunk_size=20_000)
    )
    digest = membership_digest(counted(keys))
    return count, digest


def audience_row_keys(*, audience: SandboxAudience) -> set[int]:
    """The row keys the audience holds (`rows.row_key` of each row), for checks of its exact membership."""
    members_settle(audience_pk=audience.pk)
    return set(SandboxAudienceMember.objects.filter(audience=audience).values_list("row_key", flat=True))

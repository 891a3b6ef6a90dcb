"""A refresh encodes only the members whose raw values changed, and stores what a full encode stores."""

from __future__ import annotations

import io

import pytest

from cohorts import member_import
from cohorts.member_memo import memo_dir
from cohorts.models import CohortImport, CohortMember
from cohorts.services import cohort_csv_import

MEMBERS = 12_000  # the first 10,000 rows are always encoded: they feed the key-quality sample


@pytest.fixture(autouse=True)
def own_memo_dir(settings, tmp_path):
    settings.COHORT_MEMBER_CACHE_DIR = str(tmp_path / "memos")


@pytest.fixture
def encoded_rows(monkeypatch) -> list[int]:
    """How many rows each upload sent through the encoder."""
    counts: list[int] = []
    real = member_import.encode_rows

    def counting(schema, rows, **kwargs):
        counts[-1] += len(rows)
        return real(schema, rows, **kwargs)

    monkeypatch.setattr(member_import, "encode_rows", counting)
    return counts


def csv_of(rows: list[tuple[str, str, str, str]]) -> str:
    return "user_id,email,phone,first_name\n" + "".join(",".join(row) + "\n" for row in rows)


def upload(project, rows, encoded_rows: list[int] | None = None, **kwargs) -> CohortImport:
    if encoded_rows is not None:
        encoded_rows.append(0)
    data = io.BytesIO(csv_of(rows).encode())
    return cohort_csv_import(project=project, file=data, file_name="members.csv", **kwargs)


def members_of(cohort) -> set[tuple[int, str]]:
    return set(CohortMember.objects.filter(cohort=cohort).values_list("row_hash", "row"))


def people(count: int, *, start: int = 0, tag: str = "") -> list[tuple[str, str, str, str]]:
    return [(f"u{i}", f"person{i}{tag}@example.com", f"+1415555{i % 10_000:04d}", "Zoë") for i in range(start, count)]


def fresh_members(project, rows, settings) -> set[tuple[int, str]]:
    """The same file as a new cohort, encoded from scratch (no memo)."""
    settings.COHORT_MEMBER_CACHE_DIR = ""
    try:
        return members_of(upload(project, rows, name="From scratch").cohort)
    finally:
        settings.COHORT_MEMBER_CACHE_DIR = str(memo_dir())


def test_after_a_few_members_changed_only_they_are_encoded_and_the_members_are_those_of_a_full_encode(
    amp_project, encoded_rows, settings
):
    rows = people(MEMBERS)
    first = upload(amp_project, rows, encoded_rows, name="Newsletter")
    assert encoded_rows == [MEMBERS]

    changed = rows[:11_000] + [(user, email.replace("@", ".new@"), phone, name)
                               for user, email, phone, name in rows[11_000:11_020]] + rows[11_030:]
    changed += people(MEMBERS + 10, start=MEMBERS)  # 10 left (11,020-11,029), 10 joined, 20 changed email
    second = upload(amp_project, changed, encoded_rows, cohort=first.cohort)

    assert encoded_rows[-1] == 10_000 + 20 + 10
    assert (second.members_added, second.members_removed, second.members_after) == (30, 30, MEMBERS)
    assert members_of(first.cohort) == fresh_members(amp_project, changed, settings)


def test_half_the_members_changed_and_uploaded_again_unchanged(amp_project, encoded_rows, settings):
    rows = people(MEMBERS)
    cohort = upload(amp_project, rows, encoded_rows, name="List").cohort
    half = rows[: MEMBERS // 2] + people(MEMBERS, start=MEMBERS // 2, tag=".b")
    upload(amp_project, half, encoded_rows, cohort=cohort)
    assert encoded_rows[-1] == MEMBERS  # the sample, then only new members
    again = upload(amp_project, half, encoded_rows, cohort=cohort)
    assert encoded_rows[-1] == 10_000
    assert (again.members_added, again.members_removed) == (0, 0)
    assert members_of(cohort) == fresh_members(amp_project, half, settings)


def test_a_broken_memo_file_only_costs_a_full_encode(amp_project, encoded_rows, settings):
    rows = people(MEMBERS)
    cohort = upload(amp_project, rows, encoded_rows, name="List").cohort
    (memo,) = memo_dir().glob(f"cohort-{cohort.pk}-*.memo")
    memo.write_bytes(memo.read_bytes()[:-5])
    record = upload(amp_project, rows, encoded_rows, cohort=cohort)
    assert encoded_rows[-1] == MEMBERS
    assert (record.members_added, record.members_removed) == (0, 0)


def test_values_holding_the_separator_are_encoded_every_time(amp_project, encoded_rows, settings):
    # Joined with the separator, these two rows would read the same: they get no memo entry.
    rows = [*people(MEMBERS), ("u-a\x1fx", "y", "", "Zoë"), ("u-a", "x\x1fy", "", "Zoë")]
    cohort = upload(amp_project, rows, encoded_rows, name="List").cohort
    upload(amp_project, rows, encoded_rows, cohort=cohort)
    assert encoded_rows[-1] == 10_000 + 2
    assert members_of(cohort) == fresh_members(amp_project, rows, settings)

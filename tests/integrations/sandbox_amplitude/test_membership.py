"""Sandbox cohorts: exact sizes, deterministic members, drift and changes by hand."""

from __future__ import annotations

import csv
import gzip
from datetime import timedelta

import pytest

from integrations.sandbox import population
from integrations.sandbox.amplitude import exports, services
from integrations.sandbox.amplitude.membership import CohortShape, is_member, member_indexes, permutation


def members(shape: CohortShape) -> set[int]:
    return {index for index, _ in member_indexes(shape)}


@pytest.mark.parametrize("pool_size", [2, 7, 125, 1000, 62_600])
def test_the_permutation_is_a_bijection(pool_size):
    perm = permutation(3, pool_size)
    sample = range(0, pool_size, max(1, pool_size // 500))
    assert all(perm.index(perm.position(i)) == i for i in sample)


def test_a_cohort_has_exactly_its_size_and_is_deterministic():
    shape = CohortShape(size=1000, seed=9, pool_size=1250, shift=0)
    first = members(shape)
    assert len(first) == 1000
    assert first == members(shape)
    assert all(0 <= index < 1250 for index in first)
    assert all(is_member(shape, index) for index in list(first)[:50])
    assert members(CohortShape(size=1000, seed=10, pool_size=1250, shift=0)) != first


def test_moving_the_window_swaps_exactly_that_many_members():
    before = members(CohortShape(size=1000, seed=9, pool_size=1250, shift=0))
    after = members(CohortShape(size=1000, seed=9, pool_size=1250, shift=30))
    assert len(before - after) == len(after - before) == 30


def test_default_cohorts_drift_hourly_and_last_computed_follows(db):
    services.sandbox_amplitude_seed()
    cohort = services.SandboxCohort.objects.get(cohort_id="sbx5k00")
    start = cohort.drift_anchor + timedelta(minutes=5)
    same_hour = start + timedelta(minutes=30)
    next_hour = start + timedelta(hours=1)
    now_members = set(services.sandbox_cohort_members(cohort, at=start))
    assert set(services.sandbox_cohort_members(cohort, at=same_hour)) == now_members
    assert services.cohort_last_computed(cohort, at=same_hour) == services.cohort_last_computed(cohort, at=start)
    later = set(services.sandbox_cohort_members(cohort, at=next_hour))
    assert len(now_members - later) == cohort.drift_per_hour == 25
    assert services.cohort_last_computed(cohort, at=next_hour) == services.cohort_last_computed(cohort, at=start) + 3600


def test_changing_k_percent(db):
    cohort = services.sandbox_cohort_create(size=3000, name="bench", seed=5)
    before = set(services.sandbox_cohort_members(cohort))
    marker = services.cohort_last_computed(cohort)

    change = services.sandbox_cohort_change(cohort=cohort, percent=1)

    cohort.refresh_from_db()
    after = set(services.sandbox_cohort_members(cohort))
    assert (change.left, change.joined, change.email_changed, change.changed) == (20, 20, 10, 30)
    assert len(before - after) == len(after - before) == 20
    assert services.cohort_last_computed(cohort) > marker


def test_the_file_has_amplitudes_columns_and_changed_emails(db, tmp_path):
    cohort = services.sandbox_cohort_create(size=300, name="small", seed=11)
    shape0 = services.cohort_shape(cohort)
    services.sandbox_cohort_change(cohort=cohort, percent=10)
    cohort.refresh_from_db()
    shape1 = services.cohort_shape(cohort)
    path0, path1 = tmp_path / "0.csv.gz", tmp_path / "1.csv.gz"
    exports.export_write(path0, shape=shape0, prop_keys=["email", "device_id", "unknown"])
    exports.export_write(path1, shape=shape1, prop_keys=["email", "device_id", "unknown"])
    with gzip.open(path0, "rt", newline="") as handle:
        rows0 = list(csv.reader(handle))
    with gzip.open(path1, "rt", newline="") as handle:
        rows1 = list(csv.reader(handle))
    assert rows0[0] == ["amplitude_id", "user_id", "email", "device_id", "unknown"]
    assert len(rows0) == len(rows1) == 301
    first = population.person(int(rows0[1][0]) - 100_000_000_000)
    assert rows0[1][3] == first.device_id and rows0[1][4] == ""
    emails0 = {row[0]: row[2] for row in rows0[1:]}
    emails1 = {row[0]: row[2] for row in rows1[1:]}
    stayed = emails0.keys() & emails1.keys()
    changed = [amp for amp in stayed if emails0[amp] != emails1[amp]]
    assert len(stayed) == 300 - 20 and len(changed) == 10
    assert all(".v1@" in emails1[amp] for amp in changed)
    assert any(row[1] == "" for row in rows0[1:])  # anonymous members (2%)

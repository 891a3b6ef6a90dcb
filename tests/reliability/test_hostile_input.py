"""100,000 member rows of hostile values through the encoder, a CSV upload and the Amplitude client.

No crash; every rejected row counted with its reason; every valid row kept once and,
for the CSV cohort, synced to the Facebook sandbox (its audience digest equals the one
computed from the generator's own expectations). The generator (hostile.py) decides
each row's fate when it draws it, so these counts do not come from the code under test.
"""

from __future__ import annotations

import csv
import gzip
import io
import json

import pytest
import responses
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from cohorts.amplitude.client import AmplitudeClient, RetryPolicy
from cohorts.member_files import MemberFileReader
from cohorts.member_import import members_encode
from cohorts.models import Cohort, CohortMember
from cohorts.services import cohort_csv_import, cohort_members_refresh
from integrations.facebook.match_keys import encode, encode_rows
from integrations.key_mappings import MappedKey, key_plan_build
from integrations.models import KeyMapping, Project
from integrations.sandbox.selectors import audience_rows_digest
from syncs.models import SyncBatch
from syncs.runner import sync_run_execute
from tests.reliability.conftest import held_digest
from tests.reliability.hostile import (
    DUPLICATE,
    MALFORMED_ROW,
    NO_IDENTIFYING_KEY,
    SCHEMA,
    WRONG_COLUMNS,
    hostile_csv,
    hostile_rows,
)

ROWS = 100_000
AMPLITUDE = "https://amplitude.test"
S3_FILE = "https://cohort-exports.s3.test/hostile.csv.gz?X-Amz-Signature=abc"


def stored_rows(cohort: Cohort) -> set[tuple[str, str]]:
    texts = CohortMember.objects.filter(cohort=cohort).values_list("row", flat=True)
    return {tuple(json.loads(text)) for text in texts}


def test_the_encoder_takes_100000_hostile_rows_and_rejects_exactly_the_unusable_ones():
    hostile = hostile_rows(ROWS, seed=101, wrong_types=True)
    rows: list[object] = [[row.email, row.phone] for row in hostile.rows]
    # Rows that are not rows at all: a bare string, None, too short, too long, a dict.
    malformed_at = {17: "ann@example.com", 4_242: None, 50_000: ["ann@example.com"], 77_777: ["a", "b", "c"],
                    99_999: {"EMAIL": "ann@example.com"}}
    for position, junk in sorted(malformed_at.items()):
        rows.insert(position, junk)
    expected_fates = iter(hostile.rows)

    result = encode_rows(SCHEMA, rows, default_country="US")

    rejected = dict(result.rejected)
    accepted = iter(result.rows)
    for index in range(len(rows)):
        if index in malformed_at:
            assert rejected.get(index) == MALFORMED_ROW, index
            continue
        fate = next(expected_fates)
        if fate.expected is None:
            assert rejected.get(index) == NO_IDENTIFYING_KEY, (index, fate)
        else:
            assert index not in rejected, (index, fate)
            assert tuple(next(accepted)) == fate.expected, (index, fate)
    assert next(accepted, None) is None
    assert result.total == ROWS + len(malformed_at)


def test_a_csv_of_100000_hostile_rows_imports_with_every_rejection_counted_and_syncs_every_valid_row(world):
    hostile = hostile_rows(ROWS, seed=202)
    data, malformed = hostile_csv(hostile, seed=202)
    assert malformed > 100

    record = cohort_csv_import(project=world.project, file=io.BytesIO(data), file_name="hostile.csv", name="Hostile")

    assert record.status == "succeeded"
    assert record.rows_read == ROWS + malformed
    assert record.rows_rejected == hostile.rejected_rows + malformed
    assert record.rejected_reasons == {
        NO_IDENTIFYING_KEY: hostile.rejected_rows,
        WRONG_COLUMNS: malformed,
    }
    assert record.rows_kept == hostile.valid_rows and record.rows_duplicate == hostile.duplicates
    assert all(isinstance(line, int) and reason in record.rejected_reasons for line, reason in record.rejected_sample)
    cohort = record.cohort
    assert cohort.members_count == len(hostile.expected_rows)
    assert cohort.members_skipped_reasons == {**record.rejected_reasons, DUPLICATE: hostile.duplicates}
    assert stored_rows(cohort) == hostile.expected_rows

    job = world.job_for(cohort)
    report = sync_run_execute(job_id=job.pk, trigger="manual")

    assert report.status == "succeeded", report
    assert report.rows_added == len(hostile.expected_rows)
    assert report.rows_skipped == hostile.rejected_rows + malformed + hostile.duplicates
    assert held_digest(job) == (len(hostile.expected_rows), audience_rows_digest(hostile.expected_rows, schema=SCHEMA))
    assert not SyncBatch.objects.filter(run_id=report.run_id).exclude(status="confirmed").exists()


@pytest.mark.django_db
def test_an_amplitude_export_of_100000_hostile_rows_is_read_with_every_rejection_counted():
    hostile = hostile_rows(ROWS, seed=202)
    data, malformed = hostile_csv(hostile, seed=303, amplitude=True)
    data = gzip.compress(data, compresslevel=1)
    project = Project.objects.create(name="Shop", slug="shop", default_country="US",
                                     amplitude_api_key="key", amplitude_secret_key="secret")
    KeyMapping.objects.create(project=project, facebook_key="EMAIL", source="user_property", property_name="email")
    KeyMapping.objects.create(project=project, facebook_key="PHONE", source="user_property", property_name="phone")
    cohort = Cohort.objects.create(project=project, amplitude_cohort_id="hostile1", name="Hostile")
    client = AmplitudeClient(base_url=AMPLITUDE, api_key="key", secret_key="secret", timeout=5,
                             retry=RetryPolicy(max_attempts=2, base_delay=0.01), sleep=lambda seconds: None)
    with responses.RequestsMock() as mock:
        mock.get(f"{AMPLITUDE}/api/3/cohorts", json={"cohorts": [
            {"id": "hostile1", "name": "Hostile", "size": ROWS, "lastComputed": 1767225600, "archived": False}]})
        mock.get(f"{AMPLITUDE}/api/5/cohorts/request/hostile1", json={"request_id": "req1", "cohort_id": "hostile1"})
        mock.get(f"{AMPLITUDE}/api/5/cohorts/request-status/req1", json={"async_status": "JOB COMPLETED"})
        mock.get(f"{AMPLITUDE}/api/5/cohorts/request/req1/file", status=302, headers={"Location": S3_FILE})
        mock.get(S3_FILE, body=data, content_type="binary/octet-stream")

        record = cohort_members_refresh(cohort=cohort, client=client, force=True)

        assert "Authorization" not in mock.calls[-1].request.headers  # the key never goes to S3
    assert record.status == "succeeded"
    assert record.rows_read == ROWS + malformed
    assert record.rejected_reasons == {
        NO_IDENTIFYING_KEY: hostile.rejected_rows,
        WRONG_COLUMNS: malformed,
    }
    assert record.rows_kept == hostile.valid_rows and record.rows_duplicate == hostile.duplicates
    assert stored_rows(cohort) == hostile.expected_rows


@pytest.mark.parametrize(
    "raw", ["\ufeff Ann@Example.com", "\u200b ann@example.com \u200b", "\u00ad ann@example.com\u2060"]
)
def test_an_email_padded_with_an_invisible_character_and_a_space_is_kept_like_encode_keeps_it(raw):
    assert encode("EMAIL", raw) == encode("EMAIL", "ann@example.com")
    assert encode_rows(["EMAIL"], [[raw]]).rows == [[encode("EMAIL", raw)]]


# --- properties over arbitrary values (hypothesis) ----------------------------------------------

ANY_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=80)
ANY_VALUE = st.one_of(ANY_TEXT, st.none(), st.booleans(), st.integers(), st.floats(), st.binary(max_size=20),
                      st.lists(st.integers(), max_size=2), st.decimals())


@hypothesis_settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(ANY_VALUE, ANY_VALUE), max_size=30))
def test_any_values_are_encoded_without_a_crash_and_rejected_only_when_no_key_is_usable(rows):
    result = encode_rows(SCHEMA, [list(row) for row in rows], default_country="US")
    rejected = dict(result.rejected)
    assert len(result.rows) + len(rejected) == len(rows)
    for index, (email, phone) in enumerate(rows):
        usable = encode("EMAIL", email) or encode("PHONE", phone, default_country="US")
        assert (index not in rejected) == bool(usable)
        if index in rejected:
            assert rejected[index] == NO_IDENTIFYING_KEY


PLAN = key_plan_build([MappedKey("EMAIL", "user_property", "email"), MappedKey("PHONE", "user_property", "phone")],
                      default_country="US")


@hypothesis_settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(ANY_TEXT, ANY_TEXT), min_size=1, max_size=30))
def test_any_text_in_a_csv_file_is_read_back_row_for_row_with_each_rejection_counted(rows):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["email", "phone"])
    writer.writerows(rows)
    reader = MemberFileReader(binary=io.BytesIO(out.getvalue().encode()), columns=PLAN.columns,
                              error_class=ValueError)
    spool, report = members_encode(reader, plan=PLAN)
    with spool:
        kept = list(spool.iter_rows())
    # A row of two empty cells is written as a lone separator and read back as a row; only a
    # line with nothing at all is a blank line, and csv.writer never writes one for two cells.
    assert report.rows_read == len(rows)
    assert report.rows_kept == len(kept) == report.rows_read - report.rows_rejected
    assert set(report.rejected_reasons) <= {NO_IDENTIFYING_KEY}

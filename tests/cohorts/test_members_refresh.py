"""Refreshing a cohort's members from Amplitude (mocked with `responses`)."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.db import connection

from cohorts.amplitude.errors import AmplitudeAuthError, AmplitudeMalformedResponse
from cohorts.encoding import row_serialize
from cohorts.errors import CohortRefreshBusy
from cohorts.member_import import hash_rows_insert
from cohorts.models import AmplitudeListStatus, AmplitudeUsage, Cohort, CohortImport, CohortMember
from cohorts.services import cohort_members_refresh, cohorts_sync_from_amplitude
from integrations.models import KeyMapping

from .conftest import AMPLITUDE, add_download, cohort_list_body, csv_text, gz

HEADER = ["amplitude_id", "user_id", "email", "phone", "first_name"]
ROWS = [
    ["1", "u1", " Ann@Example.com ", "+1 415 555 0100", "Ann"],
    ["2", "", "bob@example.com", "", "Bob"],  # anonymous: no user_id, kept by email
    ["3", "", "", "", "Nobody"],  # no identifying key
    ["4", "u4", "", "", "Line\nbreak"],  # a quoted value with an embedded newline
]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def stored_rows(cohort: Cohort) -> set[str]:
    return set(CohortMember.objects.filter(cohort=cohort).values_list("row", flat=True))


def test_first_refresh_stores_encoded_rows_only(amp_cohort, mocked_amplitude):
    add_download(mocked_amplitude, body=gz(csv_text(HEADER, ROWS)))

    record = cohort_members_refresh(cohort=amp_cohort)

    assert record.status == CohortImport.Status.SUCCEEDED
    assert (record.rows_read, record.rows_kept, record.rows_rejected) == (4, 3, 1)
    assert record.rejected_reasons == {"no identifying key": 1}
    assert record.rejected_sample == [[4, "no identifying key"]]  # line 4 of the file, no value
    assert (record.members_added, record.members_removed, record.members_after) == (3, 0, 3)
    rows = stored_rows(amp_cohort)
    # Schema order EXTERN_ID, EMAIL, PHONE, FN; emails and phones only as digests.
    assert json.dumps(["u1", sha("ann@example.com"), sha("14155550100"), sha("ann")], separators=(",", ":")) in rows
    assert any(json.loads(row)[1] == sha("bob@example.com") and json.loads(row)[0] == "" for row in rows)
    assert not any("example.com" in row or "415" in row for row in rows)
    amp_cohort.refresh_from_db()
    assert amp_cohort.members_count == 3
    assert amp_cohort.members_skipped == 1
    assert amp_cohort.members_source_marker == "1700000000"
    assert amp_cohort.members_skipped_reasons == {"no identifying key": 1}


def test_row_hash_is_the_shared_definition(amp_cohort, mocked_amplitude):
    add_download(mocked_amplitude, body=csv_text(HEADER, ROWS[:1]).encode())
    cohort_members_refresh(cohort=amp_cohort)
    member = CohortMember.objects.get(cohort=amp_cohort)
    assert row_serialize(json.loads(member.row)) == (member.row, member.row_hash)
    digest = hashlib.sha256(member.row.encode()).digest()
    assert member.row_hash == int.from_bytes(digest[:8], "big", signed=True)


def test_unchanged_last_computed_skips_the_download(amp_cohort, mocked_amplitude):
    add_download(mocked_amplitude, body=gz(csv_text(HEADER, ROWS)))
    cohort_members_refresh(cohort=amp_cohort)
    request_url = f"{AMPLITUDE}/api/5/cohorts/request/abc123"
    downloads = [call for call in mocked_amplitude.calls if call.request.url.startswith(request_url)]
    assert len(downloads) == 1

    record = cohort_members_refresh(cohort=amp_cohort)

    assert record.status == CohortImport.Status.SKIPPED
    downloads = [call for call in mocked_amplitude.calls if call.request.url.startswith(request_url)]
    assert len(downloads) == 1  # no second download request
    usage = AmplitudeUsage.objects.get(project=amp_cohort.project)
    assert usage.download_requests == 1
    assert usage.other_requests == 5  # two lists, two status polls, one file


def test_a_mapping_change_re_encodes_even_when_unchanged(amp_cohort, mocked_amplitude):
    add_download(mocked_amplitude, body=gz(csv_text(HEADER, ROWS)))
    cohort_members_refresh(cohort=amp_cohort)
    before = stored_rows(amp_cohort)
    KeyMapping.objects.filter(project=amp_cohort.project, facebook_key="FN").delete()

    record = cohort_members_refresh(cohort=amp_cohort)

    assert record.status == CohortImport.Status.SUCCEEDED
    after = stored_rows(amp_cohort)
    assert all(len(json.loads(row)) == 3 for row in after)  # EXTERN_ID, EMAIL, PHONE
    assert not before & after
    assert (record.members_added, record.members_removed) == (3, 3)


def test_changes_are_applied_incrementally(amp_cohort, mocked_amplitude):
    add_download(mocked_amplitude, body=gz(csv_text(HEADER, ROWS)))
    cohort_members_refresh(cohort=amp_cohort)
    kept_pk = CohortMember.objects.get(cohort=amp_cohort, row__startswith='["u1"').pk
    mocked_amplitude.reset()
    changed = [ROWS[0], ["5", "u5", "eve@example.com", "", "Eve"], ["5", "u5", "eve@example.com", "", "Eve"]]
    add_download(mocked_amplitude, body=gz(csv_text(HEADER, changed)), last_computed=1_700_003_600, request_id="r2")

    record = cohort_members_refresh(cohort=amp_cohort)

    assert (record.members_added, record.members_removed, record.members_after) == (1, 2, 2)
    assert record.rows_duplicate == 1
    assert CohortMember.objects.filter(pk=kept_pk).exists()  # untouched, not deleted and re-added
    amp_cohort.refresh_from_db()
    assert amp_cohort.members_skipped_reasons == {"duplicate row": 1}


@pytest.mark.parametrize("redirect", [False, True])
def test_plain_or_redirected_files_give_the_same_members(amp_cohort, mocked_amplitude, redirect):
    add_download(mocked_amplitude, body=csv_text(HEADER, ROWS).encode(), redirect=redirect, in_progress=2)
    record = cohort_members_refresh(cohort=amp_cohort)
    assert record.members_after == 3


def test_truncated_file_changes_nothing_and_says_so(amp_cohort, mocked_amplitude):
    add_download(mocked_amplitude, body=gz(csv_text(HEADER, ROWS)))
    cohort_members_refresh(cohort=amp_cohort)
    before = stored_rows(amp_cohort)
    mocked_amplitude.reset()
    many = [[str(i), f"u{i}", f"p{i}@example.com", "", "X"] for i in range(5000)]
    whole = gz(csv_text(HEADER, many))
    add_download(mocked_amplitude, body=whole[: len(whole) * 2 // 3], last_computed=1_700_003_600, request_id="r2")

    with pytest.raises(AmplitudeMalformedResponse) as caught:
        cohort_members_refresh(cohort=amp_cohort)

    assert "truncated" in str(caught.value)
    assert stored_rows(amp_cohort) == before
    record = CohortImport.objects.filter(cohort=amp_cohort).first()
    assert record.status == CohortImport.Status.FAILED
    assert "truncated" in record.error_message and record.error_fix
    amp_cohort.refresh_from_db()
    assert amp_cohort.members_source_marker == "1700000000"  # still what the members came from


def test_a_csv_cut_inside_quotes_is_an_error_not_a_short_cohort(amp_cohort, mocked_amplitude):
    text = csv_text(HEADER, ROWS[:2]) + '9,u9,x@example.com,,"Unfinished'
    add_download(mocked_amplitude, body=text.encode())
    with pytest.raises(AmplitudeMalformedResponse, match="truncated"):
        cohort_members_refresh(cohort=amp_cohort)
    assert not CohortMember.objects.filter(cohort=amp_cohort).exists()


def test_a_last_line_cut_short_is_truncation(amp_cohort, mocked_amplitude):
    text = csv_text(HEADER, ROWS[:2]) + "9,u9,x@exa"
    add_download(mocked_amplitude, body=text.encode())
    with pytest.raises(AmplitudeMalformedResponse, match="truncated"):
        cohort_members_refresh(cohort=amp_cohort)


def test_a_running_refresh_holds_the_cohort(amp_cohort, mocked_amplitude):
    add_download(mocked_amplitude, body=gz(csv_text(HEADER, ROWS)))
    CohortImport.objects.create(cohort=amp_cohort, source="amplitude")
    with pytest.raises(CohortRefreshBusy):
        cohort_members_refresh(cohort=amp_cohort)
    request_url = f"{AMPLITUDE}/api/5/cohorts/request/abc123"
    assert not any(call.request.url.startswith(request_url) for call in mocked_amplitude.calls)


def test_list_refresh_creates_updates_and_archives(amp_project, mocked_amplitude):
    gone = Cohort.objects.create(project=amp_project, amplitude_cohort_id="gone", name="Gone")
    Cohort.objects.create(project=amp_project, amplitude_cohort_id="a", name="Old name")
    mocked_amplitude.get(
        f"{AMPLITUDE}/api/3/cohorts",
        json=cohort_list_body(
            {"id": "a", "name": "New name", "lastComputed": 1_700_000_000, "size": 10},
            {"id": "b", "name": "Fresh", "lastComputed": 1_700_000_000_000, "archived": True},
        ),
    )
    result = cohorts_sync_from_amplitude(project=amp_project)
    assert (result.seen, result.created, result.updated, result.archived) == (2, 1, 1, 1)
    assert Cohort.objects.get(amplitude_cohort_id="a").name == "New name"
    assert Cohort.objects.get(amplitude_cohort_id="b").archived
    gone.refresh_from_db()
    assert gone.archived
    status = AmplitudeListStatus.objects.get(project=amp_project)
    assert status.succeeded_at and not status.error_message and status.cohorts_seen == 2


def test_list_refresh_records_bad_credentials_with_the_fix(amp_project, mocked_amplitude):
    mocked_amplitude.get(f"{AMPLITUDE}/api/3/cohorts", status=401, json={"error": "bad key"})
    with pytest.raises(AmplitudeAuthError):
        cohorts_sync_from_amplitude(project=amp_project)
    status = AmplitudeListStatus.objects.get(project=amp_project)
    assert "API key and secret key" in status.error_fix
    assert status.succeeded_at is None


def test_a_refresh_that_cannot_start_is_recorded_with_its_fix(amp_cohort, mocked_amplitude):
    mocked_amplitude.get(f"{AMPLITUDE}/api/3/cohorts", status=401, json={"error": "bad key"})
    with pytest.raises(AmplitudeAuthError):
        cohort_members_refresh(cohort=amp_cohort)
    record = CohortImport.objects.get(cohort=amp_cohort)
    assert record.status == CohortImport.Status.FAILED
    assert record.error_code == "amplitude_auth" and "API key and secret key" in record.error_fix


def test_stored_rows_keep_every_character_of_their_values(amp_cohort):
    values = [['say "hi"', "back\\slash", "a,b"], ["Zoë 😀", "\u2028", "{x}"], ["tab\there", "", "NULL"]]
    rows = [row_serialize(row) for row in values]

    with connection.cursor() as cursor:
        hash_rows_insert(cursor, table="cohorts_cohortmember", fixed=[("cohort_id", amp_cohort.pk)],
                         rows=[(row_hash, text) for text, row_hash in rows], on_conflict="")

    stored = dict(CohortMember.objects.filter(cohort=amp_cohort).values_list("row_hash", "row"))
    assert stored == {row_hash: text for text, row_hash in rows}
    assert [json.loads(stored[row_hash]) for _, row_hash in rows] == values

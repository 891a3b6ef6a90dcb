"""CSV upload as a cohort source: bad rows listed with line and reason, good rows kept."""

from __future__ import annotations

import gzip
import hashlib
import io
import json

import pytest
from django.db import connection

from cohorts.errors import CohortFileInvalid, CohortMappingInvalid, CohortNeedsUpload
from cohorts.models import Cohort, CohortImport, CohortMember
from cohorts.services import cohort_csv_import, cohort_members_refresh
from integrations.models import KeyMapping

FILE = (
    "user_id,email,phone,first_name\r\n"
    "u1,ann@example.com,+14155550100,Ann\r\n"  # line 2: good
    "u2,bob@example.com\r\n"  # line 3: too few columns
    ",,,Nobody\r\n"  # line 4: no identifying key
    'u5,"eve@example.com",,"=HYPERLINK(""http://x"")"\r\n'  # line 5: a formula is just data
    '"u6","multi\nline@example.com",,"Zoë"\r\n'  # lines 6-7: quoted newline (an invalid email)
    "u8,dan@example.com,,Dan,extra\r\n"  # line 8: too many columns
    ",carl@example.com,,\r\n"  # line 9: good without a user id
)


def upload(project, text: str = FILE, **kwargs) -> CohortImport:
    return cohort_csv_import(project=project, file=io.BytesIO(text.encode()), file_name="list.csv", **kwargs)


def test_bad_rows_are_listed_and_good_rows_kept(amp_project):
    record = upload(amp_project, name="Newsletter")

    assert record.status == CohortImport.Status.SUCCEEDED
    assert record.rows_read == 7
    assert record.rows_kept == 4
    assert record.rejected_sample == [
        [3, "wrong number of columns"],
        [4, "no identifying key"],
        [8, "wrong number of columns"],
    ]
    assert record.rejected_reasons == {"wrong number of columns": 2, "no identifying key": 1}
    cohort = record.cohort
    assert (cohort.source, cohort.name, cohort.members_count) == (Cohort.Source.CSV, "Newsletter", 4)


def test_formula_like_values_are_hashed_as_data(amp_project):
    upload(amp_project)
    row = json.loads(CohortMember.objects.get(row__startswith='["u5"').row)
    expected = hashlib.sha256(b"hyperlinkhttpx").hexdigest()  # FN keeps letters only
    assert row[3] == expected
    assert not CohortMember.objects.filter(row__contains="HYPERLINK").exists()


def test_a_new_upload_replaces_members_incrementally(amp_project):
    first = upload(amp_project, name="List")
    second = upload(
        amp_project,
        "user_id,email,phone,first_name\nu1,ann@example.com,+14155550100,Ann\nu9,zed@example.com,,Zed\n",
        cohort=first.cohort,
    )
    assert (second.members_added, second.members_removed, second.members_after) == (1, 3, 2)


def test_gzip_upload_and_missing_columns(amp_project):
    text = "email,user_id\nann@example.com,u1\n"
    record = cohort_csv_import(
        project=amp_project, file=io.BytesIO(gzip.compress(text.encode())), file_name="x.csv.gz", name="Gz"
    )
    assert record.members_after == 1
    assert record.warnings == ["No column for phone, first_name: those keys are empty for every member."]


def test_a_file_without_any_mapped_column_is_refused(amp_project):
    with pytest.raises(CohortFileInvalid, match="none of the mapped columns"):
        upload(amp_project, "name,city\nAnn,Paris\n", name="Wrong")
    record = CohortImport.objects.get()
    assert record.status == CohortImport.Status.FAILED and record.error_fix


def test_a_non_utf8_file_is_refused_with_the_fix(amp_project):
    with pytest.raises(CohortFileInvalid, match="UTF-8"):
        cohort_csv_import(
            project=amp_project, file=io.BytesIO("email\nzoë@example.com\n".encode("latin-1")), file_name="l.csv",
            name="Latin",
        )


def test_upload_needs_an_identifying_key_in_the_mapping(amp_project):
    KeyMapping.objects.filter(project=amp_project).exclude(facebook_key="FN").delete()
    with pytest.raises(CohortMappingInvalid, match="At least one key must identify a person"):
        upload(amp_project, name="No keys")


def test_a_csv_cohort_needs_a_new_upload_after_a_mapping_change(amp_project):
    cohort = upload(amp_project, name="List").cohort
    assert cohort_members_refresh(cohort=cohort).status == CohortImport.Status.SKIPPED
    KeyMapping.objects.filter(project=amp_project, facebook_key="FN").delete()
    with pytest.raises(CohortNeedsUpload):
        cohort_members_refresh(cohort=cohort)


def test_an_upload_django_spooled_to_disk(amp_project):
    """Files above FILE_UPLOAD_MAX_MEMORY_SIZE reach the service as a temporary file."""
    from django.core.files.uploadedfile import TemporaryUploadedFile

    lines = ["user_id,email"] + [f"u{i},person{i}@example.com" for i in range(5_000)]
    data = ("\n".join(lines) + "\n").encode()
    upload = TemporaryUploadedFile("big.csv", "text/csv", len(data), "utf-8")
    upload.write(data)
    upload.seek(0)
    record = cohort_csv_import(project=amp_project, file=upload, file_name=upload.name, name="Big")
    assert record.members_after == 5_000


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner statistics")
def test_after_loading_a_large_cohort_its_first_sync_pages_are_read_through_the_index(amp_project):
    lines = ["email"] + [f"person{number}@example.com" for number in range(12_000)]
    cohort = upload(amp_project, text="\r\n".join(lines) + "\r\n", name="Large").cohort

    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT row_hash, row FROM cohorts_cohortmember WHERE cohort_id = %s AND row_hash > %s "
            "ORDER BY row_hash LIMIT 10000",
            [cohort.pk, 0],
        )
        plan = "\n".join(line for (line,) in cursor.fetchall())

    # Without fresh statistics PostgreSQL took the new rows for a few, and read every page of a
    # first sync with a bitmap scan over all remaining members and a sort.
    assert "Index Scan using cohortmember_unique_row" in plan, plan

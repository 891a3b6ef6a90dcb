"""Key-quality figures against a cohort built with known shares of missing, invalid and hashed values."""

from __future__ import annotations

import hashlib
import io

import pytest

from cohorts.key_quality import key_quality_report
from cohorts.selectors import cohort_key_quality
from cohorts.services import cohort_csv_import
from integrations.key_mappings import project_mapping_fingerprint
from integrations.models import KeyMapping


def known_file() -> str:
    """200 members. EMAIL: 40 missing, 20 invalid, 30 already hashed, 110 valid.

    PHONE: 90 missing, 110 valid. 20 members have neither a usable email nor a phone:
    10% of members have no usable identifying key.
    """
    lines = ["email,phone,first_name,user_id"]
    for i in range(200):
        if i < 40:
            email = ""
        elif i < 60:
            email = f"broken-{i}-at-example.com"
        elif i < 90:
            email = hashlib.sha256(f"p{i}@example.com".encode()).hexdigest().upper()
        else:
            email = f" P{i}@Example.com"
        has_phone = i < 20 or 40 <= i < 60 or (i >= 60 and i % 2 == 0)
        phone = f"+1 415 555 {i:04d}" if has_phone else ""
        lines.append(f"{email},{phone},Name{i},")
    return "\n".join(lines) + "\n"


@pytest.fixture
def imported(amp_project):
    KeyMapping.objects.filter(project=amp_project, facebook_key="EXTERN_ID").delete()
    return cohort_csv_import(
        project=amp_project, file=io.BytesIO(known_file().encode()), file_name="known.csv", name="Known"
    )


def test_preview_figures_match_the_known_shares(imported, amp_project):
    report = key_quality_report(
        imported.key_quality,
        members=imported.members_after,
        current_fingerprint=project_mapping_fingerprint(amp_project),
    )
    assert report.sample_rows == 200
    email, phone, first_name = report.keys
    assert (email.key, email.column) == ("EMAIL", "email")
    assert email.filled == pytest.approx(0.80)
    assert email.invalid == pytest.approx(0.10)
    assert email.hashed == pytest.approx(0.15)
    assert email.valid == pytest.approx(0.55)
    assert phone.filled == pytest.approx(0.55)
    assert phone.valid == pytest.approx(phone.filled)
    assert first_name.filled == 1.0 and first_name.valid == 1.0
    assert report.no_identifying_key_share == pytest.approx(0.10)
    assert report.members_estimate == 180
    assert not report.stale


def test_examples_show_digests_never_raw_values(imported):
    examples = imported.key_quality["examples"]
    assert len(examples) == 3
    text = repr(examples)
    assert "example.com" not in text and "415" not in text and "Name" not in text
    assert all(value == "" or value.endswith("…") for row in examples for value in row)


def test_a_mapping_change_marks_the_figures_stale(imported, amp_project):
    KeyMapping.objects.filter(project=amp_project, facebook_key="FN").delete()
    report = cohort_key_quality(cohort=imported.cohort)
    assert report.stale

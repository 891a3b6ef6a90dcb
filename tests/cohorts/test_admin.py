"""The cohort admin: quota shown per project, CSV upload page, key-quality page, refresh actions."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from cohorts.models import AmplitudeUsage, Cohort, CohortImport, CohortMember

from .conftest import add_download, csv_text, gz
from .test_csv_import import FILE

CHANGELIST = "admin:cohorts_cohort_changelist"


def test_the_list_shows_this_months_downloads_per_project(client, amp_project, make_member):
    AmplitudeUsage.objects.create(
        project=amp_project, month=timezone.now().date().replace(day=1), download_requests=37, other_requests=80
    )
    client.force_login(make_member(amp_project, "viewer"))
    page = client.get(reverse(CHANGELIST)).content.decode()
    assert "37 of 500 downloads this month" in page
    assert "Upload a CSV cohort" not in page  # viewers only read


def test_an_operator_uploads_a_csv_and_sees_each_bad_line(client, amp_project, make_member):
    client.force_login(make_member(amp_project, "operator"))
    url = reverse("admin:cohorts_cohort_upload_csv")
    assert "Upload a CSV cohort" in client.get(reverse(CHANGELIST)).content.decode()
    response = client.post(
        url,
        {"project": amp_project.pk, "name": "Newsletter", "file": SimpleUploadedFile("list.csv", FILE.encode())},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "4 kept, 3 rejected" in page
    for line, reason in [(3, "wrong number of columns"), (4, "no identifying key"), (8, "wrong number of columns")]:
        assert f"<tr><td>{line}</td><td>{reason}</td></tr>" in page
    cohort = Cohort.objects.get(name="Newsletter")
    assert cohort.members_count == 4 and CohortMember.objects.filter(cohort=cohort).count() == 4


def test_a_viewer_cannot_upload(client, amp_project, make_member):
    client.force_login(make_member(amp_project, "viewer"))
    response = client.post(
        reverse("admin:cohorts_cohort_upload_csv"),
        {"project": amp_project.pk, "name": "X", "file": SimpleUploadedFile("l.csv", FILE.encode())},
    )
    assert response.status_code == 403
    assert not Cohort.objects.exists()


def test_the_key_quality_page_shows_shares_and_digests_only(client, amp_project, make_member):
    operator = make_member(amp_project, "operator")
    client.force_login(operator)
    client.post(
        reverse("admin:cohorts_cohort_upload_csv"),
        {"project": amp_project.pk, "name": "Q", "file": SimpleUploadedFile("l.csv", FILE.encode())},
    )
    cohort = Cohort.objects.get(name="Q")
    page = client.get(reverse("admin:cohorts_cohort_key_quality", args=[cohort.pk])).content.decode()
    assert "Per mapped key" in page
    assert "<td>EMAIL</td><td>email</td>" in page
    assert "members would be sent" in page
    assert "ann@example.com" not in page and "Ann" not in page
    assert "(sent unhashed, hidden)" in page  # EXTERN_ID values are ids: hidden


def test_another_projects_cohort_is_not_found(client, amp_project, other_project, make_member):
    cohort = Cohort.objects.create(project=other_project, amplitude_cohort_id="x", name="Theirs")
    client.force_login(make_member(amp_project, "operator"))
    assert client.get(reverse("admin:cohorts_cohort_key_quality", args=[cohort.pk])).status_code == 404


def test_refresh_action_downloads_through_the_task(
    client, amp_cohort, make_member, mocked_amplitude, django_capture_on_commit_callbacks
):
    add_download(mocked_amplitude, body=gz(csv_text(["amplitude_id", "user_id", "email"], [["1", "u1", "a@b.co"]])))
    client.force_login(make_member(amp_cohort.project, "operator"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse(CHANGELIST), {"action": "refresh_members", "_selected_action": [amp_cohort.pk]}, follow=True
        )
    assert "Member refresh queued for 1 cohort" in response.content.decode()
    record = CohortImport.objects.get(cohort=amp_cohort)  # Q_SYNC runs the task at once in tests
    assert record.status == CohortImport.Status.SUCCEEDED and record.members_after == 1
    page = client.get(reverse(CHANGELIST)).content.decode()
    assert "Succeeded" in page


def test_refresh_list_page(client, amp_project, make_member, mocked_amplitude):
    mocked_amplitude.get(
        "https://amplitude.test/api/3/cohorts",
        json={"cohorts": [{"id": "c1", "name": "Buyers", "size": 9, "lastComputed": 1}]},
    )
    client.force_login(make_member(amp_project, "operator"))
    response = client.post(reverse("admin:cohorts_cohort_refresh_list"), {"project": amp_project.pk}, follow=True)
    page = response.content.decode()
    assert "1 cohorts in Amplitude (1 new" in page
    assert "Buyers" in page

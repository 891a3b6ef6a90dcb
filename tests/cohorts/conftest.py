"""Fixtures of the cohort tests: a project with Amplitude keys and a key mapping, Amplitude mocks."""

from __future__ import annotations

import gzip
import io
import json

import pytest
import responses

from cohorts.models import Cohort
from integrations.models import KeyMapping, Project

AMPLITUDE = "https://amplitude.test"


@pytest.fixture
def amp_project(db) -> Project:
    project = Project.objects.create(
        name="Shop",
        slug="shop",
        default_country="US",
        amplitude_api_key="key-123",
        amplitude_secret_key="secret-456",
    )
    for key, source, prop in [
        ("EXTERN_ID", "user_id", ""),
        ("EMAIL", "user_property", "email"),
        ("PHONE", "user_property", "phone"),
        ("FN", "user_property", "first_name"),
    ]:
        KeyMapping.objects.create(project=project, facebook_key=key, source=source, property_name=prop)
    return project


@pytest.fixture
def amplitude_settings(settings):
    settings.AMPLITUDE_API_URL = AMPLITUDE
    settings.AMPLITUDE_POLL_INTERVAL_SECONDS = 0.001
    settings.AMPLITUDE_POLL_MAX_INTERVAL_SECONDS = 0.001
    return settings


@pytest.fixture
def mocked_amplitude(amplitude_settings):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def cohort_list_body(*cohorts: dict) -> dict:
    return {"cohorts": [{"archived": False, "description": "", "size": 3, **c} for c in cohorts]}


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    import csv

    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def gz(text: str) -> bytes:
    return gzip.compress(text.encode("utf-8"))


def add_download(
    mock: responses.RequestsMock,
    *,
    cohort_id: str = "abc123",
    request_id: str = "req1",
    body: bytes,
    in_progress: int = 1,
    redirect: bool = False,
    headers: dict | None = None,
    last_computed=1_700_000_000,
    size: int = 3,
) -> None:
    """The cohort list plus the three-step download, as Amplitude answers them."""
    mock.get(
        f"{AMPLITUDE}/api/3/cohorts",
        json=cohort_list_body({"id": cohort_id, "name": "Buyers", "lastComputed": last_computed, "size": size}),
    )
    mock.get(
        f"{AMPLITUDE}/api/5/cohorts/request/{cohort_id}",
        json={"request_id": request_id, "cohort_id": cohort_id},
        status=202,
    )
    for _ in range(in_progress):
        mock.get(
            f"{AMPLITUDE}/api/5/cohorts/request-status/{request_id}",
            json={"request_id": request_id, "cohort_id": cohort_id, "async_status": "JOB INPROGRESS"},
            status=202,
        )
    mock.get(
        f"{AMPLITUDE}/api/5/cohorts/request-status/{request_id}",
        json={"request_id": request_id, "cohort_id": cohort_id, "async_status": "JOB COMPLETED"},
    )
    file_headers = {"Content-Type": "application/octet-stream", **(headers or {})}
    if redirect:
        s3 = f"https://s3.test/exports/{request_id}.csv.gz?X-Amz-Signature=abc"
        mock.get(f"{AMPLITUDE}/api/5/cohorts/request/{request_id}/file", status=302, headers={"Location": s3})
        mock.get(s3.split("?")[0], body=body, headers=file_headers)
    else:
        mock.get(f"{AMPLITUDE}/api/5/cohorts/request/{request_id}/file", body=body, headers=file_headers)


@pytest.fixture
def amp_cohort(amp_project) -> Cohort:
    return Cohort.objects.create(project=amp_project, amplitude_cohort_id="abc123", name="Buyers")


def as_json(value) -> str:
    return json.dumps(value)

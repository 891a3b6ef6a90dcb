"""The Amplitude client against `responses`: every step, its retries and its typed errors."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest
import requests
import responses

from cohorts.amplitude.client import AmplitudeClient, PollPolicy, RetryPolicy, timestamp_parse
from cohorts.amplitude.errors import (
    AmplitudeAuthError,
    AmplitudeExportFailed,
    AmplitudeExportTimeout,
    AmplitudeMalformedResponse,
    AmplitudeNotFound,
    AmplitudeRateLimited,
    AmplitudeUnavailable,
)

BASE = "https://amplitude.test"
CSV = 'amplitude_id,user_id,email\r\n1,u1,"a@example.com"\r\n2,,b@example.com\r\n'


@pytest.fixture
def mock():
    with responses.RequestsMock() as rsps:
        yield rsps


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def counted() -> list[str]:
    return []


@pytest.fixture
def client(sleeps, counted) -> AmplitudeClient:
    return AmplitudeClient(
        base_url=BASE,
        api_key="key",
        secret_key="secret",
        timeout=5,
        retry=RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=4, max_total_wait=10),
        on_request=counted.append,
        sleep=sleeps.append,
    )


def read_all(client: AmplitudeClient, request_id: str = "r1") -> str:
    with client.cohort_export_file(request_id) as body:
        return body.read().decode()


def test_list_parses_cohorts_with_seconds_or_milliseconds(client, mock, counted):
    mock.get(
        f"{BASE}/api/3/cohorts",
        json={
            "cohorts": [
                {"id": "26umsb5", "name": "Buyers", "size": 12, "lastComputed": 1679440233, "archived": False},
                {"id": "s7xeonk", "name": "Old", "lastComputed": 1722873600000, "archived": True},
                {"name": "no id is skipped"},
            ]
        },
    )
    buyers, old = client.cohorts_list()
    assert (buyers.id, buyers.name, buyers.size, buyers.last_computed_marker) == ("26umsb5", "Buyers", 12, "1679440233")
    assert buyers.last_computed == datetime(2023, 3, 21, 23, 10, 33, tzinfo=UTC)
    assert old.last_computed == datetime(2024, 8, 5, 16, 0, tzinfo=UTC)
    assert old.archived and old.size is None
    assert counted == ["other"]
    assert mock.calls[0].request.headers["Authorization"].startswith("Basic ")


def test_timestamps_parse_defensively():
    assert timestamp_parse("2024-08-05T16:00:00Z") == datetime(2024, 8, 5, 16, tzinfo=UTC)
    assert timestamp_parse(None) is None
    assert timestamp_parse("soon") is None
    assert timestamp_parse(True) is None


def test_request_asks_for_properties_and_counts_as_a_download(client, mock, counted):
    mock.get(
        f"{BASE}/api/5/cohorts/request/c1",
        json={"request_id": "r1", "cohort_id": "c1"},
        status=202,
        match=[responses.matchers.query_string_matcher("props=1&propKeys=email&propKeys=device_id")],
    )
    assert client.cohort_export_request("c1", prop_keys=["email", "device_id"]) == "r1"
    assert counted == ["download"]


def test_polling_waits_through_202_until_200_completed(client, mock, sleeps):
    url = f"{BASE}/api/5/cohorts/request-status/r1"
    mock.get(url, json={"async_status": "JOB INPROGRESS"}, status=202)
    mock.get(url, json={"async_status": "JOB ENQUEUED"}, status=202)
    mock.get(url, json={"async_status": "JOB COMPLETED"}, status=200)
    client.cohort_export_wait("r1", poll=PollPolicy(timeout=60, first_interval=1, max_interval=10))
    assert len(mock.calls) == 3
    assert sleeps == [1, 1.5]


def test_polling_gives_up_after_its_time_budget(client, mock):
    mock.get(f"{BASE}/api/5/cohorts/request-status/r1", json={"async_status": "JOB INPROGRESS"}, status=202)
    with pytest.raises(AmplitudeExportTimeout) as caught:
        client.cohort_export_wait("r1", poll=PollPolicy(timeout=0, first_interval=1))
    assert not caught.value.permanent


def test_polling_stops_on_an_explicit_failure(client, mock):
    mock.get(f"{BASE}/api/5/cohorts/request-status/r1", json={"async_status": "JOB FAILED"}, status=200)
    with pytest.raises(AmplitudeExportFailed):
        client.cohort_export_wait("r1", poll=PollPolicy(timeout=60))


def test_inline_plain_file(client, mock):
    mock.get(f"{BASE}/api/5/cohorts/request/r1/file", body=CSV, headers={"Content-Type": "text/csv"})
    assert read_all(client) == CSV


def test_inline_gzip_file_is_gunzipped(client, mock):
    mock.get(f"{BASE}/api/5/cohorts/request/r1/file", body=gzip.compress(CSV.encode()))
    assert read_all(client) == CSV


def test_redirect_to_s3_is_followed_without_basic_auth(client, mock, counted):
    s3 = "https://bucket.s3.test/export.csv.gz"
    mock.get(f"{BASE}/api/5/cohorts/request/r1/file", status=302, headers={"Location": f"{s3}?X-Amz-Signature=x"})
    mock.get(s3, body=gzip.compress(CSV.encode()))
    assert read_all(client) == CSV
    assert "Authorization" in mock.calls[0].request.headers
    assert "Authorization" not in mock.calls[1].request.headers
    assert counted == ["other"]  # the S3 fetch is not an Amplitude request


def test_429_is_retried_honouring_retry_after(client, mock, sleeps, counted):
    url = f"{BASE}/api/3/cohorts"
    mock.get(url, status=429, json={"error": "too many"}, headers={"Retry-After": "2"})
    mock.get(url, json={"cohorts": []})
    assert client.cohorts_list() == []
    assert sleeps == [2.0]
    assert counted == ["other", "other"]


def test_429_until_retries_run_out_raises_rate_limited(client, mock, sleeps):
    mock.get(f"{BASE}/api/3/cohorts", status=429, json={"error": "too many"})
    with pytest.raises(AmplitudeRateLimited) as caught:
        client.cohorts_list()
    assert len(mock.calls) == 3  # bounded
    assert len(sleeps) == 2
    assert not caught.value.permanent


def test_5xx_then_success(client, mock):
    url = f"{BASE}/api/3/cohorts"
    mock.get(url, status=503, body="unavailable")
    mock.get(url, json={"cohorts": []})
    assert client.cohorts_list() == []


def test_connection_errors_are_retried_then_reported(client, mock):
    mock.get(f"{BASE}/api/3/cohorts", body=requests.ConnectionError("reset"))
    with pytest.raises(AmplitudeUnavailable):
        client.cohorts_list()
    assert len(mock.calls) == 3


def test_401_is_permanent_with_the_fix_and_not_retried(client, mock):
    mock.get(f"{BASE}/api/3/cohorts", status=401, json={"error": "Invalid API key"})
    with pytest.raises(AmplitudeAuthError) as caught:
        client.cohorts_list()
    assert caught.value.permanent
    assert "check the project's amplitude api key and secret key" in caught.value.fix.lower()
    assert "Invalid API key" in str(caught.value)
    assert len(mock.calls) == 1


def test_404_is_not_found(client, mock):
    mock.get(f"{BASE}/api/5/cohorts/request/nope", status=404, json={"error": "no cohort"})
    with pytest.raises(AmplitudeNotFound):
        client.cohort_export_request("nope", prop_keys=[])


def test_html_page_is_malformed(client, mock):
    mock.get(f"{BASE}/api/3/cohorts", body="<html>Sign in</html>", headers={"Content-Type": "text/html"})
    with pytest.raises(AmplitudeMalformedResponse, match="HTML page"):
        client.cohorts_list()


def test_truncated_json_is_malformed(client, mock):
    mock.get(f"{BASE}/api/3/cohorts", body='{"cohorts": [{"id": "a"', content_type="application/json")
    with pytest.raises(AmplitudeMalformedResponse, match="not complete JSON"):
        client.cohorts_list()


def test_truncated_gzip_file_raises_when_read(client, mock):
    whole = gzip.compress((CSV * 200).encode())
    mock.get(f"{BASE}/api/5/cohorts/request/r1/file", body=whole[: len(whole) // 2])
    with pytest.raises(AmplitudeMalformedResponse, match="truncated"):
        read_all(client)


def test_body_shorter_than_its_content_length_raises_when_read(client, mock):
    mock.get(
        f"{BASE}/api/5/cohorts/request/r1/file",
        body=CSV[:20],
        headers={"Content-Type": "text/csv", "Content-Length": str(len(CSV))},
    )
    with pytest.raises(AmplitudeMalformedResponse, match="broke off"):
        read_all(client)

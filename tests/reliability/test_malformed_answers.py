"""Malformed answers from Graph and Amplitude become typed errors, and never a stuck run.

Truncated JSON, an HTML error page, a wrong content type, a 200 with an error inside,
an empty body, a body cut off mid-stream: first at the clients (every method, bounded
attempts), then inside whole runs against the sandboxes, where `responses` replaces
the answers of one endpoint and lets every other call through to the live server.
"""

from __future__ import annotations

import gzip
import json
import random
import re

import pytest
import requests
import responses

from cohorts.amplitude.client import AmplitudeClient, PollPolicy
from cohorts.amplitude.client import RetryPolicy as AmplitudeRetry
from cohorts.amplitude.errors import (
    AmplitudeError,
    AmplitudeMalformedResponse,
    AmplitudeUnavailable,
)
from cohorts.models import CohortImport
from integrations.facebook.client import GraphClient
from integrations.facebook.errors import GraphError, InvalidRequest, MalformedResponse, TokenInvalid, Transient
from integrations.facebook.results import UploadSession
from integrations.facebook.retry import RetryPolicy
from syncs.models import AudienceMember, SyncBatch, SyncRun
from syncs.runner import sync_run_execute
from tests.reliability.conftest import expected_digest, held_digest

GRAPH = "https://graph.test/v25.0"
AMPLITUDE = "https://amplitude.test"
def cut_gzip_file() -> bytes:
    """A gzip member file cut in the middle (random emails: it does not compress to nothing)."""
    rng = random.Random(7)
    lines = [f"{n},u{n},{rng.getrandbits(64):x}@example.com,\n" for n in range(5_000)]
    whole = gzip.compress(("amplitude_id,user_id,email,phone\n" + "".join(lines)).encode())
    return whole[: len(whole) // 2]


HTML_PAGE = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


def envelope(code: int, message: str = "(#100) Invalid parameter") -> str:
    return json.dumps({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC"}})


# (name, HTTP status, body, content type, expected error class)
GRAPH_ANSWERS = [
    ("truncated JSON", 200, '{"audience_id": "1", "num_rec', "application/json", MalformedResponse),
    ("an HTML error page", 502, HTML_PAGE, "text/html", Transient),
    ("an HTML page with 200", 200, HTML_PAGE, "text/html; charset=utf-8", MalformedResponse),
    ("a wrong content type", 200, '{"id": "1", "num_received": 1}', "text/plain", MalformedResponse),
    ("a 200 with an error inside", 200, envelope(100), "application/json", InvalidRequest),
    ("a 200 with a token error inside", 200, envelope(190, "Error validating access token"), "application/json",
     TokenInvalid),
    ("an empty body", 200, "", "application/json", MalformedResponse),
    ("JSON of the wrong shape", 200, "[1, 2, 3]", "application/json", MalformedResponse),
    ("a body cut off mid-stream", 200, requests.exceptions.ChunkedEncodingError("cut"), None, MalformedResponse),
]
SESSION = UploadSession(session_id=7, batch_seq=1, last_batch_flag=True, estimated_num_total=1)
GRAPH_CALLS = {
    "GET ad account": ("GET", f"{GRAPH}/act_1", lambda client: client.ad_account()),
    "GET audiences (paged)": ("GET", f"{GRAPH}/act_1/customaudiences", lambda client: list(client.custom_audiences())),
    "GET audience": ("GET", f"{GRAPH}/123", lambda client: client.custom_audience("123")),
    "POST users": ("POST", f"{GRAPH}/123/users",
                   lambda client: client.users_add("123", schema=["EMAIL"], rows=[["a" * 64]], session=SESSION)),
    "DELETE users": ("DELETE", f"{GRAPH}/123/users",
                     lambda client: client.users_remove("123", schema=["EMAIL"], rows=[["a" * 64]], session=SESSION)),
    "POST usersreplace": ("POST", f"{GRAPH}/123/usersreplace",
                          lambda client: client.users_replace("123", schema=["EMAIL"], rows=[["a" * 64]],
                                                              session=SESSION)),
    "POST create audience": ("POST", f"{GRAPH}/act_1/customaudiences",
                             lambda client: client.custom_audience_create(name="Buyers")),
}


@pytest.mark.parametrize("answer", GRAPH_ANSWERS, ids=[answer[0] for answer in GRAPH_ANSWERS])
@pytest.mark.parametrize("call", list(GRAPH_CALLS), ids=list(GRAPH_CALLS))
def test_every_graph_method_turns_a_malformed_answer_into_a_typed_error_with_bounded_attempts(call, answer):
    _, status, body, content_type, expected = answer
    method, url, invoke = GRAPH_CALLS[call]
    client = GraphClient("EAAtoken", ad_account_id="act_1", base_url="https://graph.test", version="v25.0",
                         app_secret="secret", retry_policy=RetryPolicy(max_attempts=3, sleep=lambda seconds: None))
    with responses.RequestsMock() as mock:
        mock.add(method, url, status=status, body=body, content_type=content_type)
        with pytest.raises(GraphError) as raised:
            invoke(client)
        calls = len(mock.calls)
    assert isinstance(raised.value, expected), (type(raised.value), raised.value)
    assert raised.value.fix and str(raised.value)
    assert 1 <= raised.value.attempts == calls <= 3


AMPLITUDE_ANSWERS = [
    ("truncated JSON", 200, '{"cohorts": [{"id": "a", "na', "application/json", AmplitudeMalformedResponse),
    ("an HTML error page", 502, HTML_PAGE, "text/html", AmplitudeUnavailable),
    ("an HTML page with 200", 200, HTML_PAGE, "text/html", AmplitudeMalformedResponse),
    ("a wrong content type", 200, "cohorts: none", "text/plain", AmplitudeMalformedResponse),
    ("a 200 with an error inside", 200, '{"error": {"http_code": 500, "message": "Internal error"}}',
     "application/json", AmplitudeError),
    ("an empty body", 200, "", "application/json", AmplitudeMalformedResponse),
    ("JSON of the wrong shape", 200, '["cohorts"]', "application/json", AmplitudeMalformedResponse),
    ("a connection cut", 200, requests.exceptions.ConnectionError("reset"), None, AmplitudeUnavailable),
    ("a body cut off mid-stream", 200, requests.exceptions.ChunkedEncodingError("cut"), None, AmplitudeError),
]
AMPLITUDE_CALLS = {
    "list cohorts": (f"{AMPLITUDE}/api/3/cohorts", lambda client: client.cohorts_list()),
    "request a download": (f"{AMPLITUDE}/api/5/cohorts/request/c1",
                           lambda client: client.cohort_export_request("c1", prop_keys=["email"])),
}


def amplitude_client() -> AmplitudeClient:
    return AmplitudeClient(base_url=AMPLITUDE, api_key="key", secret_key="secret", timeout=5,
                           retry=AmplitudeRetry(max_attempts=3, base_delay=0.01), sleep=lambda seconds: None)


@pytest.mark.parametrize(
    ("name", "status", "body", "content_type", "expected"),
    AMPLITUDE_ANSWERS,
    ids=[answer[0] if isinstance(answer, tuple) else answer.id for answer in AMPLITUDE_ANSWERS],
)
@pytest.mark.parametrize("call", list(AMPLITUDE_CALLS), ids=list(AMPLITUDE_CALLS))
def test_every_amplitude_call_turns_a_malformed_answer_into_a_typed_error_with_bounded_attempts(
    call, name, status, body, content_type, expected
):
    url, invoke = AMPLITUDE_CALLS[call]
    with responses.RequestsMock() as mock:
        mock.get(url, status=status, body=body, content_type=content_type)
        with pytest.raises(AmplitudeError) as raised:
            invoke(amplitude_client())
        calls = len(mock.calls)
    assert isinstance(raised.value, expected), (type(raised.value), raised.value)
    assert raised.value.fix and 1 <= calls <= 3


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(cut_gzip_file(), "binary/octet-stream"), (HTML_PAGE.encode(), "text/html")],
    ids=["truncated gzip", "an HTML page"],
)
def test_a_broken_amplitude_file_is_a_typed_error_when_read(body, content_type):
    with responses.RequestsMock() as mock:
        mock.get(f"{AMPLITUDE}/api/5/cohorts/request/r1/file", body=body, content_type=content_type)
        with pytest.raises(AmplitudeError) as raised, amplitude_client().cohort_export_file("r1") as stream:
            stream.read()
    assert isinstance(raised.value, AmplitudeMalformedResponse)


def test_a_status_answer_of_200_with_an_error_inside_is_an_error_not_done():
    with responses.RequestsMock() as mock:
        mock.get(f"{AMPLITUDE}/api/5/cohorts/request-status/r1",
                 json={"error": {"http_code": 500, "type": "Internal", "message": "export failed"}})
        with pytest.raises(AmplitudeError):
            amplitude_client().cohort_export_wait("r1", poll=PollPolicy(timeout=1, first_interval=0.01))


# --- inside whole runs: never a stuck run ------------------------------------------------------


def assert_ended_with_a_reason(report, job) -> SyncRun:
    run = SyncRun.objects.get(pk=report.run_id)
    assert run.status in {SyncRun.Status.FAILED, SyncRun.Status.STOPPED}, (run.status, run.error_message)
    assert run.error_code and run.error_message and run.error_fix and run.finished_at
    assert not SyncRun.objects.filter(job=job, status=SyncRun.Status.RUNNING).exists()
    assert not SyncBatch.objects.filter(run__job=job, status=SyncBatch.Status.SENDING).exists()
    return run


@pytest.mark.django_db(transaction=True)
def test_malformed_upload_answers_end_the_run_failed_with_a_reason_and_lose_nothing(world, live_server, settings):
    settings.GRAPH_RETRY_MAX_ATTEMPTS = 3
    job, amp_cohort = world.amplitude_job(size=600)
    uploads = re.compile(rf"{re.escape(live_server.url)}/sandbox/v25\.0/\d+/users")
    outcomes = {}
    for name, status, body, content_type, _ in GRAPH_ANSWERS:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mock.add_passthru(live_server.url)
            mock.add(responses.POST, uploads, status=status, body=body, content_type=content_type)
            report = sync_run_execute(job_id=job.pk, trigger="manual")
        run = assert_ended_with_a_reason(report, job)
        outcomes[name] = run.error_code
        assert not AudienceMember.objects.filter(job=job).exists()  # nothing confirmed, nothing recorded
        failed = SyncBatch.objects.get(run=run)
        assert failed.status == SyncBatch.Status.FAILED and failed.error_message and failed.attempts <= 3
        if run.error_code == "token_invalid":  # the connection was held: reconnect-free release for the test
            from integrations.connection_checks import connection_check

            assert connection_check(connection=world.connection).passed
    assert outcomes["a 200 with an error inside"] == "invalid_request"
    assert outcomes["truncated JSON"] == outcomes["a body cut off mid-stream"] == "malformed_response"
    # The answers are right again: the next run sends everything, once.
    report = sync_run_execute(job_id=job.pk, trigger="manual")
    assert report.status == SyncRun.Status.SUCCEEDED, report
    assert held_digest(job) == expected_digest(amp_cohort)


@pytest.mark.django_db(transaction=True)
def test_malformed_amplitude_answers_end_the_run_failed_with_a_reason(world, live_server, settings):
    job, amp_cohort = world.amplitude_job(size=600)
    base = f"{live_server.url}/sandbox"
    broken_file = cut_gzip_file()
    cases = [
        ("list: an HTML page", f"{base}/api/3/cohorts", dict(status=200, body=HTML_PAGE, content_type="text/html")),
        ("list: truncated JSON", f"{base}/api/3/cohorts",
         dict(status=200, body='{"cohorts": [{"id"', content_type="application/json")),
        ("list: a 200 with an error inside", f"{base}/api/3/cohorts",
         dict(status=200, json={"error": {"http_code": 500, "message": "Internal error"}})),
        ("request: wrong content type", re.compile(rf"{re.escape(base)}/api/5/cohorts/request/\w+"),
         dict(status=200, body="request_id=1", content_type="text/plain")),
        ("file: truncated gzip", re.compile(rf"{re.escape(base)}/api/5/cohorts/request/\w+/file"),
         dict(status=200, body=broken_file, content_type="binary/octet-stream")),
    ]
    for name, url, answer in cases:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mock.add_passthru(live_server.url)
            mock.add(responses.GET, url, **answer)
            report = sync_run_execute(job_id=job.pk, trigger="manual")
        assert report.status == SyncRun.Status.FAILED, (name, report)
        run = assert_ended_with_a_reason(report, job)
        assert run.error_code.startswith("cohort_Amplitude"), (name, run.error_code)
        assert not CohortImport.objects.filter(status=CohortImport.Status.RUNNING).exists(), name
    report = sync_run_execute(job_id=job.pk, trigger="manual")
    assert report.status == SyncRun.Status.SUCCEEDED, report
    assert held_digest(job) == expected_digest(amp_cohort)

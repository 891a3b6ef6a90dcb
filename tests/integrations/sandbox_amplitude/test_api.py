"""The Amplitude sandbox over real HTTP (pytest-django's live server), through our real client."""

from __future__ import annotations

import gzip

import pytest
import requests

from cohorts.amplitude.client import AmplitudeClient, PollPolicy, RetryPolicy
from cohorts.amplitude.errors import AmplitudeAuthError, AmplitudeNotFound, AmplitudeRateLimited
from integrations.sandbox.amplitude import services
from integrations.sandbox.amplitude.models import SandboxAmplitudeProject

FAST_POLL = PollPolicy(timeout=60, first_interval=0.05, max_interval=0.2)


@pytest.fixture
def base_url(live_server) -> str:
    return f"{live_server.url}/sandbox"


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
def client(base_url, calls, transactional_db) -> AmplitudeClient:
    return AmplitudeClient(
        base_url=base_url,
        api_key="sandbox-api-key",
        secret_key="sandbox-secret-key",
        timeout=30,
        retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05),
        on_request=calls.append,
    )


def download(client: AmplitudeClient, cohort_id: str, prop_keys: list[str]) -> str:
    request_id = client.cohort_export_request(cohort_id, prop_keys=prop_keys)
    client.cohort_export_wait(request_id, poll=FAST_POLL)
    with client.cohort_export_file(request_id) as body:
        return body.read().decode()


def test_the_demo_project_lists_its_default_cohorts(client):
    cohorts = {cohort.id: cohort for cohort in client.cohorts_list()}
    assert {"sbx0500", "sbx5k00", "sbx50k0", "sbx200k"} <= cohorts.keys()
    assert cohorts["sbx200k"].size == 200_000
    assert cohorts["sbxold1"].archived
    assert cohorts["sbx0500"].last_computed is not None


def test_a_small_cohort_comes_inline_after_in_progress(client, calls):
    cohort = services.sandbox_cohort_create(size=50, name="tiny", seed=1)
    text = download(client, cohort.cohort_id, ["email", "phone"])
    lines = text.splitlines()
    assert lines[0] == "amplitude_id,user_id,email,phone"
    assert len(lines) == 51
    assert calls.count("download") == 1
    assert calls.count("other") >= 3  # at least one INPROGRESS, then COMPLETED, then the file


def test_a_large_file_redirects_to_s3_which_refuses_our_basic_auth(client, base_url):
    project = services.sandbox_amplitude_seed()
    SandboxAmplitudeProject.objects.filter(pk=project.pk).update(inline_max_bytes=100)
    cohort = services.sandbox_cohort_create(size=500, name="big enough", seed=2)
    session = requests.Session()
    auth = ("sandbox-api-key", "sandbox-secret-key")
    request_id = session.get(f"{base_url}/api/5/cohorts/request/{cohort.cohort_id}", auth=auth, timeout=10).json()[
        "request_id"
    ]
    client.cohort_export_wait(request_id, poll=FAST_POLL)
    answer = session.get(
        f"{base_url}/api/5/cohorts/request/{request_id}/file", auth=auth, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302
    s3 = answer.headers["Location"]
    assert "X-Amz-Signature=" in s3
    refused = requests.get(s3, auth=auth, timeout=10)
    assert refused.status_code == 400 and b"Only one auth mechanism" in refused.content
    body = requests.get(s3, timeout=10)
    assert body.status_code == 200 and body.content[:2] == b"\x1f\x8b"
    assert len(gzip.decompress(body.content).decode().splitlines()) == 501
    # Our client follows the same redirect without the header.
    assert len(download(client, cohort.cohort_id, []).splitlines()) == 501


def test_wrong_keys_and_the_refuse_switch_answer_401(client, base_url):
    bad = AmplitudeClient(base_url=base_url, api_key="sandbox-api-key", secret_key="wrong", timeout=10)
    with pytest.raises(AmplitudeAuthError):
        bad.cohorts_list()
    project = services.sandbox_amplitude_seed()
    SandboxAmplitudeProject.objects.filter(pk=project.pk).update(refuse_auth=True)
    with pytest.raises(AmplitudeAuthError):
        client.cohorts_list()


def test_429_on_demand_then_success(client, calls):
    project = services.sandbox_amplitude_seed()
    SandboxAmplitudeProject.objects.filter(pk=project.pk).update(throttle_next=2)
    assert client.cohorts_list()
    assert calls == ["other", "other", "other"]  # two 429s, then the answer
    SandboxAmplitudeProject.objects.filter(pk=project.pk).update(throttle_next=5)
    with pytest.raises(AmplitudeRateLimited):
        client.cohorts_list()


def test_unknown_cohort_is_404(client):
    with pytest.raises(AmplitudeNotFound):
        client.cohort_export_request("nosuch1", prop_keys=[])

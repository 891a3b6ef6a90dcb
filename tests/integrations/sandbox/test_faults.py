"""Fault injection: server errors, throttling with usage headers, held-back answers, seeded dice."""

from __future__ import annotations

import json

import pytest
import requests

from integrations.facebook import errors
from integrations.facebook.results import UploadSession
from integrations.facebook.retry import RetryPolicy
from integrations.sandbox import faults, selectors, services
from integrations.sandbox.models import SandboxAudience
from tests.integrations.sandbox.conftest import SCHEMA, Sandbox, population_rows


def _statuses(sandbox: Sandbox, token: str, calls: int) -> list[int]:
    act = sandbox.seeded["ready"].act_id
    url = f"{sandbox.url}/v25.0/{act}"
    return [requests.get(url, params={"access_token": token}, timeout=10).status_code for _ in range(calls)]


def test_server_errors_are_transient_and_retried_until_the_bound(sandbox: Sandbox) -> None:
    services.sandbox_fault_switch_set(ad_account_id=sandbox.seeded["ready"].act_id, server_error_share=1.0)
    client = sandbox.client()

    with pytest.raises(errors.Transient) as caught:
        client.ad_account()

    assert caught.value.http_status == 500
    assert client.calls_made == 3
    assert sandbox.client("terms").ad_account().id  # other ad accounts are untouched


@pytest.mark.parametrize("code", [80003, 613, 17])
def test_throttling_carries_metas_code_and_wait(sandbox: Sandbox, code: int) -> None:
    services.sandbox_fault_switch_set(throttle_share=1.0, throttle_code=code, throttle_regain_minutes=3)
    client = sandbox.client()

    with pytest.raises(errors.RateLimited) as caught:
        client.ad_account()

    assert caught.value.code == code
    assert caught.value.retry_after == 180
    assert client.calls_made == 1  # three minutes is beyond this policy's wait: raised, not slept
    assert (
        client.last_usage.business_use_case[sandbox.seeded["ready"].ad_account.account_id][0][
            "estimated_time_to_regain_access"
        ]
        == 3
    )


def test_the_same_seed_gives_the_same_faults(sandbox: Sandbox) -> None:
    token = sandbox.token()
    sequences = []
    for _ in range(2):
        services.sandbox_fault_switch_set(server_error_share=0.3, throttle_share=0.2, seed=42)
        sequences.append(_statuses(sandbox, token, 20))
    services.sandbox_fault_switch_set(server_error_share=0.3, throttle_share=0.2, seed=7)
    other = _statuses(sandbox, token, 20)

    assert sequences[0] == sequences[1]
    assert sequences[0] != other
    assert {500, 400, 200} == set(sequences[0])


def test_environment_variables_describe_the_global_switch(sandbox: Sandbox, monkeypatch) -> None:
    monkeypatch.setenv("SANDBOX_FAULT_THROTTLE_SHARE", "1")
    monkeypatch.setenv("SANDBOX_FAULT_THROTTLE_CODE", "613")

    with pytest.raises(errors.RateLimited) as caught:
        sandbox.client().me()
    assert caught.value.code == 613
    # A switch saved in the admin wins over the environment.
    services.sandbox_fault_switch_set(throttle_share=0.0)
    assert sandbox.client().me()


def test_a_held_back_answer_times_out_but_the_resent_batch_is_not_doubled(sandbox: Sandbox) -> None:
    client = sandbox.client(timeout=(2.0, 0.5), retry_policy=RetryPolicy(max_attempts=3, base_delay=0.01))
    audience_id = client.custom_audience_create(name="Slow")
    switch = services.sandbox_fault_switch_set(
        ad_account_id=sandbox.seeded["ready"].act_id, timeout_share=1.0, timeout_seconds=1.0
    )
    rows = population_rows(0, 100)

    with pytest.raises(errors.Transient, match="did not answer"):
        client.users_add(audience_id, schema=SCHEMA, rows=rows, session=UploadSession(5, 1, True))

    switch.delete()
    result = client.users_add(audience_id, schema=SCHEMA, rows=rows, session=UploadSession(5, 1, True))
    assert result.num_received == 100
    assert selectors.audience_stored_digest(audience=SandboxAudience.objects.get(fb_id=audience_id))[0] == 100
    assert faults.faults_for(None) == faults.NO_FAULTS


def test_latency_is_added(sandbox: Sandbox) -> None:
    services.sandbox_fault_switch_set(latency_ms=300)
    response = requests.get(f"{sandbox.url}/v25.0/me", params={"access_token": sandbox.token()}, timeout=10)

    assert response.elapsed.total_seconds() >= 0.3
    assert json.loads(response.content)["name"] == "Robin Ready"

"""GraphClient.campaigns and GraphClient.ad_sets against canned Graph answers (responses)."""

from __future__ import annotations

import json

import pytest
import responses
from responses import matchers

from integrations.facebook.client import GraphClient
from integrations.facebook.errors import MalformedResponse, PermissionMissing
from integrations.facebook.retry import RetryPolicy

GRAPH = "https://graph.facebook.com/v25.0"
ACT = "act_123"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(clock: Clock) -> GraphClient:
    policy = RetryPolicy(max_attempts=3, base_delay=1.0, sleep=clock.sleep, clock=clock.clock, random=lambda: 0.5)
    return GraphClient("EAAtoken", ad_account_id=ACT, base_url="https://graph.facebook.com", retry_policy=policy)


def envelope(code: int, message: str) -> dict:
    return {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Atrace"}}


@responses.activate
def test_ad_sets_follow_pages_and_ask_for_the_targeted_audiences(client):
    first = {
        "data": [{"id": "1", "name": "A", "targeting": {"custom_audiences": [{"id": "238", "name": "Churn"}]}}],
        "paging": {"cursors": {"before": "b0", "after": "c1"}, "next": f"{GRAPH}/{ACT}/adsets?after=c1"},
    }
    second = {
        "data": [{"id": "2", "name": "B", "targeting": {}}],
        "paging": {"cursors": {"before": "c1", "after": "c2"}},
    }
    responses.get(
        f"{GRAPH}/{ACT}/adsets",
        json=first,
        match=[
            matchers.query_param_matcher(
                {"fields": "id,name,campaign_id,status,targeting{custom_audiences}", "limit": "1"}, strict_match=False
            )
        ],
    )
    responses.get(
        f"{GRAPH}/{ACT}/adsets", json=second, match=[matchers.query_param_matcher({"after": "c1"}, strict_match=False)]
    )

    rows = list(client.ad_sets(limit=1))

    assert [row["id"] for row in rows] == ["1", "2"]
    assert rows[0]["targeting"]["custom_audiences"] == [{"id": "238", "name": "Churn"}]
    assert client.calls_made == 2


@responses.activate
def test_campaigns_of_another_account_and_an_empty_list(client):
    responses.get(f"{GRAPH}/act_999/campaigns", json={"data": []})
    assert list(client.campaigns("999", fields=["id"])) == []
    assert "fields=id" in responses.calls[0].request.url


@responses.activate
def test_a_missing_permission_is_typed_and_not_retried(client):
    responses.get(f"{GRAPH}/{ACT}/adsets", json=envelope(200, "(#200) Requires ads_read permission"), status=403)
    with pytest.raises(PermissionMissing):
        list(client.ad_sets())
    assert len(responses.calls) == 1


@responses.activate
def test_a_throttle_is_waited_out_then_the_read_succeeds(client, clock):
    usage = {"123": [{"type": "ads_management", "call_count": 100, "estimated_time_to_regain_access": 1}]}
    responses.get(
        f"{GRAPH}/{ACT}/adsets",
        json=envelope(17, "User request limit reached"),
        status=400,
        headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
    )
    responses.get(f"{GRAPH}/{ACT}/adsets", json={"data": [{"id": "1"}]})
    assert [row["id"] for row in client.ad_sets()] == ["1"]
    assert clock.sleeps and clock.sleeps[0] >= 60.0  # one minute, as the header announced


@responses.activate
def test_an_answer_without_a_data_array_is_malformed(client):
    responses.get(f"{GRAPH}/{ACT}/campaigns", json={"id": "1"})
    responses.get(f"{GRAPH}/{ACT}/campaigns", json={"id": "1"})
    responses.get(f"{GRAPH}/{ACT}/campaigns", json={"id": "1"})
    with pytest.raises(MalformedResponse):
        list(client.campaigns())

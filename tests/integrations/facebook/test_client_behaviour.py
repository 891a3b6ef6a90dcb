"""What the client sends, what it keeps, and how it bounds its waiting."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from django.test import override_settings

from integrations.facebook import errors
from integrations.facebook.client import GraphClient
from integrations.facebook.results import SerializedRows, UploadSession
from integrations.facebook.retry import InMemoryThrottleGate
from tests.integrations.facebook.graph_fakes import (
    AD_ACCOUNT_JSON,
    APP_SECRET,
    AUDIENCE_ID,
    AUDIENCE_JSON,
    GRAPH,
    TOKEN,
    UPLOAD_JSON,
    FakeClock,
    buc_header,
    envelope,
    make_client,
    make_policy,
)

USERS_URL = f"{GRAPH}/{AUDIENCE_ID}/users"
SCHEMA = ["EMAIL", "PHONE"]
ROWS = [["a" * 64, "b" * 64], ["c" * 64, ""]]
SESSION = UploadSession(session_id=42, batch_seq=3, last_batch_flag=False, estimated_num_total=25000)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> GraphClient:
    return make_client(clock)


def _proof(token: str = TOKEN) -> str:
    return hmac.new(APP_SECRET.encode(), token.encode(), hashlib.sha256).hexdigest()


@responses.activate
def test_get_sends_token_and_proof_in_the_query(client: GraphClient) -> None:
    responses.get(f"{GRAPH}/me", json={"id": "1", "name": "Ann"})

    assert client.me() == {"id": "1", "name": "Ann"}

    query = parse_qs(urlparse(responses.calls[0].request.url).query)
    assert query["access_token"] == [TOKEN]
    assert query["appsecret_proof"] == [_proof()]
    assert query["fields"] == ["id,name"]


@responses.activate
def test_without_an_app_secret_no_proof_is_sent(clock: FakeClock) -> None:
    client = make_client(clock, app_secret=None)
    responses.get(f"{GRAPH}/me", json={"id": "1"})

    client.me()

    assert "appsecret_proof" not in responses.calls[0].request.url


@responses.activate
def test_removal_sends_rows_and_credentials_in_the_delete_body_never_the_url(client: GraphClient) -> None:
    responses.delete(USERS_URL, json=UPLOAD_JSON)

    result = client.users_remove(AUDIENCE_ID, schema=SCHEMA, rows=ROWS, session=SESSION)

    request = responses.calls[0].request
    assert urlparse(request.url).query == ""
    body = json.loads(request.body)
    assert body["payload"] == {"schema": SCHEMA, "is_raw": True, "data": ROWS}
    assert body["session"] == {
        "session_id": 42,
        "batch_seq": 3,
        "last_batch_flag": False,
        "estimated_num_total": 25000,
    }
    assert body["access_token"] == TOKEN
    assert body["appsecret_proof"] == _proof()
    assert request.headers["Content-Type"] == "application/json"
    assert (result.num_received, result.num_invalid_entries, result.session_id) == (2, 0, 42)
    assert (result.http_status, result.attempts) == (200, 1)


@responses.activate
def test_pre_serialised_rows_are_sent_byte_for_byte_like_row_lists(client: GraphClient) -> None:
    responses.post(USERS_URL, json=UPLOAD_JSON)
    serialised = SerializedRows(json.dumps(ROWS, separators=(",", ":")), count=len(ROWS))

    client.users_add(AUDIENCE_ID, schema=SCHEMA, rows=ROWS, session=SESSION)
    client.users_add(AUDIENCE_ID, schema=SCHEMA, rows=serialised, session=SESSION)

    assert responses.calls[0].request.body == responses.calls[1].request.body


def test_body_size_helpers_tell_the_exact_bytes_sent(client: GraphClient) -> None:
    body = client.upload_body(schema=SCHEMA, rows=ROWS, session=SESSION)
    rows_json = json.dumps(ROWS, separators=(",", ":")).encode()

    assert client.upload_body_size(schema=SCHEMA, rows=ROWS, session=SESSION) == len(body)
    assert client.upload_body_overhead(schema=SCHEMA, session=SESSION) + len(rows_json) == len(body)


def test_ten_thousand_rows_of_six_keys_fit_the_default_byte_cap(client: GraphClient) -> None:
    rows = [["f" * 64] * 6 for _ in range(10_000)]
    size = client.upload_body_size(schema=["EMAIL"] * 6, rows=rows, session=SESSION)

    assert 3_900_000 < size < 8_000_000


@responses.activate
def test_upload_answer_records_trace_attempts_and_duration(client: GraphClient, clock: FakeClock) -> None:
    responses.post(USERS_URL, status=503, json=envelope(1, "An unknown error occurred"))
    responses.post(USERS_URL, json=UPLOAD_JSON, headers={"x-fb-trace-id": "ABC"})

    result = client.users_add(AUDIENCE_ID, schema=SCHEMA, rows=ROWS, session=SESSION)

    assert result.attempts == 2
    assert result.fbtrace_id == "ABC"
    assert result.duration == pytest.approx(0.5)  # the fake clock only moves while sleeping


@responses.activate
def test_usage_headers_are_kept_on_the_client(client: GraphClient) -> None:
    headers = {
        "X-App-Usage": json.dumps({"call_count": 12, "total_cputime": 3, "total_time": 5}),
        "X-Ad-Account-Usage": json.dumps({"acc_id_util_pct": 41.5, "reset_time_duration": 0}),
        **buc_header("act_123", minutes=0),
    }
    responses.get(f"{GRAPH}/act_123", json=AD_ACCOUNT_JSON, headers=headers)

    client.ad_account()

    usage = client.last_usage
    assert usage.app == {"call_count": 12, "total_cputime": 3, "total_time": 5}
    assert usage.ad_account["acc_id_util_pct"] == 41.5
    assert usage.business_use_case["123"][0]["type"] == "custom_audience"
    assert usage.max_percent() == 100


@responses.activate
def test_a_throttle_longer_than_the_policy_allows_is_raised_not_slept(clock: FakeClock) -> None:
    client = make_client(clock, retry_policy=make_policy(clock, max_throttle_wait=60))
    responses.post(USERS_URL, status=400, json=envelope(80003, "Too many calls"), headers=buc_header("act_123", 30))

    with pytest.raises(errors.RateLimited) as caught:
        client.users_add(AUDIENCE_ID, schema=SCHEMA, rows=ROWS, session=SESSION)

    assert caught.value.retry_after == 1800
    assert caught.value.retry_after_known
    assert clock.sleeps == []
    assert client.calls_made == 1


@responses.activate
def test_a_throttle_without_a_wait_uses_the_default(client: GraphClient) -> None:
    responses.get(f"{GRAPH}/me", status=400, json=envelope(17, "User request limit reached", subcode=2446079))

    with pytest.raises(errors.RateLimited) as caught:
        client.me()

    assert caught.value.retry_after == errors.DEFAULT_THROTTLE_SECONDS
    assert not caught.value.retry_after_known


@responses.activate
def test_the_policy_decides_the_wait_of_a_throttle_that_names_none(clock: FakeClock) -> None:
    gate = RecordingGate()
    client = make_client(clock, retry_policy=make_policy(clock, unknown_throttle_wait=5.0), throttle_gate=gate)
    responses.get(f"{GRAPH}/act_123", status=400, json=envelope(80003, "Too many calls"))
    responses.get(f"{GRAPH}/act_123", json=AD_ACCOUNT_JSON)

    client.ad_account()

    assert clock.sleeps == [5.5]  # the policy's 5 s plus jitter
    assert ("record", "act_123", 5.0) in gate.events


@responses.activate
def test_retries_stop_at_the_total_time_budget_before_the_attempt_budget(clock: FakeClock) -> None:
    policy = make_policy(clock, max_attempts=10, max_total_seconds=2.0, random=lambda: 1.0)
    client = make_client(clock, retry_policy=policy)
    responses.get(f"{GRAPH}/me", status=500, json=envelope(2, "Service unavailable"))

    with pytest.raises(errors.Transient):
        client.me()

    # Waits of 1 s then 2 s would pass the 2 s budget: only the first is slept.
    assert clock.sleeps == [1.0]
    assert client.calls_made == 2


class RecordingGate:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, float | None]] = []

    def wait(self, scope_id: str) -> None:
        self.events.append(("wait", scope_id, None))

    def record(self, scope_id: str, retry_after_seconds: float) -> None:
        self.events.append(("record", scope_id, retry_after_seconds))


@responses.activate
def test_the_throttle_gate_is_asked_before_each_call_and_told_of_each_throttle(clock: FakeClock) -> None:
    gate = RecordingGate()
    client = make_client(clock, throttle_gate=gate)
    responses.post(
        USERS_URL, status=400, json=envelope(613, "Calls limit", subcode=1487742), headers=buc_header("1", 1)
    )
    responses.post(USERS_URL, json=UPLOAD_JSON)

    client.users_add(AUDIENCE_ID, schema=SCHEMA, rows=ROWS, session=SESSION)

    assert gate.events == [("wait", "act_123", None), ("record", "act_123", 60.0), ("wait", "act_123", None)]


@responses.activate
def test_an_in_memory_gate_holds_back_other_calls_on_the_throttled_account(clock: FakeClock) -> None:
    gate = InMemoryThrottleGate(max_wait=100, sleep=clock.sleep, clock=clock.clock)
    gate.record("act_123", 50)
    client = make_client(clock, throttle_gate=gate)
    responses.get(f"{GRAPH}/act_123", json=AD_ACCOUNT_JSON)

    client.ad_account()

    assert clock.sleeps == [50]
    gate.record("act_123", 500)
    with pytest.raises(errors.RateLimited):
        client.ad_account()
    assert client.calls_made == 1


@responses.activate
def test_a_200_carrying_an_error_is_an_error(client: GraphClient) -> None:
    responses.get(f"{GRAPH}/{AUDIENCE_ID}", status=200, json=envelope(100, "Unsupported get request", subcode=33))

    with pytest.raises(errors.AudienceGone):
        client.custom_audience(AUDIENCE_ID)


@responses.activate
def test_object_missing_on_the_ad_account_means_lost_access_not_a_gone_audience(client: GraphClient) -> None:
    responses.get(f"{GRAPH}/act_123", status=400, json=envelope(100, "Unsupported get request", subcode=33))

    with pytest.raises(errors.PermissionMissing):
        client.ad_account()


@responses.activate
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"audience_id": "600", "num_rec', "application/json"),
        ("", "application/json"),
        ('{"id": "1"}', "text/html"),
        ("[1, 2]", "application/json"),
    ],
    ids=["truncated", "empty", "wrong-content-type", "not-an-object"],
)
def test_unreadable_answers_are_malformed_and_retried(client: GraphClient, body: str, content_type: str) -> None:
    responses.get(f"{GRAPH}/me", body=body, content_type=content_type)

    with pytest.raises(errors.MalformedResponse):
        client.me()
    assert client.calls_made == 3


@responses.activate
def test_a_proxy_error_page_is_transient(client: GraphClient) -> None:
    responses.get(f"{GRAPH}/me", status=502, body="<html>Bad gateway</html>", content_type="text/html")
    responses.get(f"{GRAPH}/me", json={"id": "1"})

    assert client.me() == {"id": "1"}


@responses.activate
def test_a_connection_refused_is_transient(clock: FakeClock) -> None:
    client = make_client(clock, base_url="http://127.0.0.1:9")  # nothing listens on the discard port
    responses.add_passthru("http://127.0.0.1:9")

    with pytest.raises(errors.Transient) as caught:
        client.me()
    assert caught.value.request_sent is False


@responses.activate
def test_terms_error_carries_the_acceptance_link_for_the_ad_account(client: GraphClient) -> None:
    responses.post(
        f"{GRAPH}/act_123/customaudiences",
        status=400,
        json=envelope(2663, "Terms of service has not been accepted."),
    )

    with pytest.raises(errors.TermsNotAccepted) as caught:
        client.custom_audience_create(name="x")

    link = "https://business.facebook.com/ads/manage/customaudiences/tos/?act=123"
    assert caught.value.acceptance_url == link
    assert link in caught.value.fix
    assert caught.value.permanent


@responses.activate
def test_typed_results_read_like_meta_answers(client: GraphClient) -> None:
    responses.get(f"{GRAPH}/{AUDIENCE_ID}", json=AUDIENCE_JSON)
    responses.get(f"{GRAPH}/act_123", json={**AD_ACCOUNT_JSON, "business": None, "user_tos_accepted": {}})

    audience = client.custom_audience(AUDIENCE_ID)
    account = client.ad_account()

    assert audience.size_label == "12,000 - 14,100"
    assert audience.delivery_status.description == "This audience is ready for use."
    assert not audience.is_flagged
    assert not account.in_business_manager
    assert account.custom_audience_terms_accepted  # falls back to the account's map
    assert account.is_active


@responses.activate
def test_debug_token_uses_the_app_token_and_reads_expiry(client: GraphClient) -> None:
    responses.get(
        f"{GRAPH}/debug_token",
        json={
            "data": {
                "is_valid": False,
                "app_id": "1",
                "expires_at": 1900000000,
                "scopes": [],
                "error": {"code": 190, "subcode": 460, "message": "password changed"},
            }
        },
    )

    info = client.debug_token("EAAother", app_id="1", app_secret="s")

    query = parse_qs(urlparse(responses.calls[0].request.url).query)
    assert query["access_token"] == ["1|s"]
    assert query["input_token"] == ["EAAother"]
    assert not info.is_valid
    assert info.expires_at.year == 2030
    assert (info.error_code, info.error_subcode) == (190, 460)


def test_base_url_and_version_default_from_settings() -> None:
    with override_settings(FACEBOOK_GRAPH_URL="http://127.0.0.1:1234/sandbox/", FACEBOOK_GRAPH_VERSION="v24.0"):
        client = GraphClient(TOKEN)
    assert (client.base_url, client.version) == ("http://127.0.0.1:1234/sandbox", "v24.0")


def test_the_token_never_shows_in_reprs(client: GraphClient) -> None:
    assert TOKEN not in repr(client)
    from integrations.facebook.results import AccessToken

    assert TOKEN not in repr(AccessToken(access_token=TOKEN))


def test_ad_account_ids_are_normalised(clock: FakeClock) -> None:
    assert make_client(clock, ad_account_id="123").ad_account_id == "act_123"
    assert make_client(clock, ad_account_id="act_123").ad_account_id == "act_123"
    with pytest.raises(ValueError):
        make_client(clock, ad_account_id="act_12x")

"""Every GraphClient method against canned Graph answers: success, empty page, each typed
error, throttled then success, timeout then success, retries exhausted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import requests
import responses

from integrations.facebook import errors
from integrations.facebook.client import GraphClient
from integrations.facebook.results import UploadSession
from tests.integrations.facebook.graph_fakes import (
    AD_ACCOUNT_JSON,
    AUDIENCE_ID,
    AUDIENCE_JSON,
    GRAPH,
    INSIGHT_ROW,
    SESSION_JSON,
    UPLOAD_JSON,
    FakeClock,
    buc_header,
    envelope,
    make_client,
)

SESSION = UploadSession(session_id=42, batch_seq=1, last_batch_flag=True, estimated_num_total=2)
ROWS = [["a" * 64, "b" * 64], ["c" * 64, ""]]


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    path: str
    answer: dict[str, Any]
    invoke: Callable[[GraphClient], Any]
    paged: bool = False
    idempotent: bool = True

    def __str__(self) -> str:
        return self.name


CALLS = [
    Call("me", "GET", "me", {"id": "10", "name": "Ann"}, lambda c: c.me()),
    Call(
        "permissions",
        "GET",
        "me/permissions",
        {"data": [{"permission": "ads_management", "status": "granted"}]},
        lambda c: c.permissions(),
        paged=True,
    ),
    Call("revoke_permissions", "DELETE", "me/permissions", {"success": True}, lambda c: c.revoke_permissions()),
    Call(
        "debug_token",
        "GET",
        "debug_token",
        {"data": {"is_valid": True, "app_id": "1", "user_id": "10", "scopes": ["ads_read"], "expires_at": 1900000000}},
        lambda c: c.debug_token(app_id="1", app_secret="s"),
    ),
    Call(
        "exchange_long_lived_token",
        "GET",
        "oauth/access_token",
        {"access_token": "EAAlong", "token_type": "bearer", "expires_in": 5183944},
        lambda c: c.exchange_long_lived_token(app_id="1", app_secret="s"),
    ),
    Call(
        "exchange_code",
        "GET",
        "oauth/access_token",
        {"access_token": "EAAshort", "token_type": "bearer", "expires_in": 7200},
        lambda c: c.exchange_code("the-code", redirect_uri="https://app/cb", app_id="1", app_secret="s"),
        idempotent=False,
    ),
    Call(
        "app_access_token",
        "GET",
        "oauth/access_token",
        {"access_token": "1|apptoken", "token_type": "bearer"},
        lambda c: c.app_access_token(app_id="1", app_secret="s"),
    ),
    Call("ad_accounts", "GET", "me/adaccounts", {"data": [AD_ACCOUNT_JSON]}, lambda c: list(c.ad_accounts()), True),
    Call("ad_account", "GET", "act_123", AD_ACCOUNT_JSON, lambda c: c.ad_account()),
    Call(
        "custom_audiences",
        "GET",
        "act_123/customaudiences",
        {"data": [AUDIENCE_JSON]},
        lambda c: list(c.custom_audiences()),
        paged=True,
    ),
    Call(
        "custom_audience_create",
        "POST",
        "act_123/customaudiences",
        {"id": AUDIENCE_ID},
        lambda c: c.custom_audience_create(name="Churn risk"),
        idempotent=False,
    ),
    Call("custom_audience", "GET", AUDIENCE_ID, AUDIENCE_JSON, lambda c: c.custom_audience(AUDIENCE_ID)),
    Call(
        "custom_audience_delete",
        "DELETE",
        AUDIENCE_ID,
        {"success": True},
        lambda c: c.custom_audience_delete(AUDIENCE_ID),
    ),
    Call(
        "users_add",
        "POST",
        f"{AUDIENCE_ID}/users",
        UPLOAD_JSON,
        lambda c: c.users_add(AUDIENCE_ID, schema=["EMAIL", "PHONE"], rows=ROWS, session=SESSION),
    ),
    Call(
        "users_remove",
        "DELETE",
        f"{AUDIENCE_ID}/users",
        UPLOAD_JSON,
        lambda c: c.users_remove(AUDIENCE_ID, schema=["EMAIL", "PHONE"], rows=ROWS, session=SESSION),
    ),
    Call(
        "users_replace",
        "POST",
        f"{AUDIENCE_ID}/usersreplace",
        UPLOAD_JSON,
        lambda c: c.users_replace(AUDIENCE_ID, schema=["EMAIL", "PHONE"], rows=ROWS, session=SESSION),
    ),
    Call(
        "audience_sessions",
        "GET",
        f"{AUDIENCE_ID}/sessions",
        {"data": [SESSION_JSON]},
        lambda c: list(c.audience_sessions(AUDIENCE_ID)),
        paged=True,
    ),
    Call(
        "insights",
        "GET",
        "act_123/insights",
        {"data": [INSIGHT_ROW]},
        lambda c: list(c.insights(fields=["spend"], time_range=(date(2026, 1, 1), date(2026, 1, 31)))),
        paged=True,
    ),
    Call(
        "insights_report_start",
        "POST",
        "act_123/insights",
        {"report_run_id": "777"},
        lambda c: c.insights_report_start(fields=["spend"], date_preset="last_30d"),
        idempotent=False,
    ),
    Call(
        "insights_report_status",
        "GET",
        "777",
        {"id": "777", "async_status": "Job Running", "async_percent_completion": 40},
        lambda c: c.insights_report_status("777"),
    ),
    Call(
        "insights_report_rows",
        "GET",
        "777/insights",
        {"data": [INSIGHT_ROW]},
        lambda c: list(c.insights_report_rows("777")),
        paged=True,
    ),
]
IDEMPOTENT_CALLS = [call for call in CALLS if call.idempotent]
ONE_SHOT_CALLS = [call for call in CALLS if not call.idempotent]
PAGED_CALLS = [call for call in CALLS if call.paged]

# (status, body, content type, expected error, extra headers)
ERROR_CASES = {
    "terms": (
        400,
        envelope(
            2655,
            "(#2655) Terms of service has not been accepted. To accept, go to "
            "https://www.facebook.com/customaudiences/app/tos/?act=123",
        ),
        errors.TermsNotAccepted,
    ),
    "no_business": (
        400,
        envelope(2654, "Failed to create custom audience: the ad account is not in a Business Manager."),
        errors.NoBusinessManager,
    ),
    "permission": (
        403,
        envelope(200, "(#200) The current user can not update audience 6000000000001"),
        errors.PermissionMissing,
    ),
    "token": (
        400,
        envelope(190, "Error validating access token: Session has expired", subcode=463),
        errors.TokenInvalid,
    ),
    "throttled": (400, envelope(80003, "There have been too many calls to this ad-account."), errors.RateLimited),
    "transient": (500, envelope(2, "An unexpected error has occurred.", is_transient=True), errors.Transient),
    "gone": (400, envelope(100, "Custom Audience Has Been Deleted", subcode=1487366), errors.AudienceGone),
    "flagged": (
        400,
        envelope(100, "Audience Upload Blocked", subcode=1713230, error_user_title="Audience Upload Blocked"),
        errors.AudienceFlagged,
    ),
    "too_large": (400, envelope(105, "(#105) The number of parameters exceeded the maximum"), errors.PayloadTooLarge),
    "invalid": (400, envelope(100, "(#100) Invalid parameter"), errors.InvalidRequest),
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> GraphClient:
    return make_client(clock)


def _register(call: Call, *, status: int = 200, json_body: Any = None, **kwargs: Any) -> None:
    if "body" in kwargs:
        responses.add(call.method, f"{GRAPH}/{call.path}", status=status, **kwargs)
    else:
        responses.add(call.method, f"{GRAPH}/{call.path}", status=status, json=json_body, **kwargs)


@responses.activate
@pytest.mark.parametrize("call", CALLS, ids=str)
def test_every_method_succeeds_with_one_call_signed_with_appsecret_proof(call: Call, client: GraphClient) -> None:
    _register(call, json_body=call.answer)

    result = call.invoke(client)

    assert result is not None
    assert client.calls_made == 1
    sent = responses.calls[0].request
    where = sent.url if call.method == "GET" else sent.body.decode()
    if call.name not in {"exchange_long_lived_token", "exchange_code", "app_access_token"}:
        assert "appsecret_proof" in where


@responses.activate
@pytest.mark.parametrize("call", PAGED_CALLS, ids=str)
def test_paged_methods_return_nothing_for_an_empty_page(call: Call, client: GraphClient) -> None:
    _register(call, json_body={"data": [], "paging": {"cursors": {"before": "x", "after": "x"}}})

    assert not call.invoke(client)
    assert client.calls_made == 1


@responses.activate
@pytest.mark.parametrize("call", PAGED_CALLS, ids=str)
def test_paged_methods_follow_the_after_cursor_until_next_is_gone(call: Call, client: GraphClient) -> None:
    row = call.answer["data"][0]
    _register(call, json_body={"data": [row], "paging": {"cursors": {"after": "CUR1"}, "next": "https://x/next"}})
    _register(call, json_body={"data": [row], "paging": {"cursors": {"after": "CUR2"}}})

    call.invoke(client)

    assert client.calls_made == 2
    assert "after=CUR1" in responses.calls[1].request.url


@responses.activate
@pytest.mark.parametrize("case", ERROR_CASES, ids=str)
@pytest.mark.parametrize("call", CALLS, ids=str)
def test_every_method_raises_each_typed_error(call: Call, case: str, client: GraphClient) -> None:
    status, body, expected = ERROR_CASES[case]
    _register(call, status=status, json_body=body)

    with pytest.raises(expected) as caught:
        call.invoke(client)

    error = caught.value
    assert error.fbtrace_id == "TRACE1"
    assert error.fix
    assert error.permanent is not error.retryable or isinstance(error, errors.PayloadTooLarge)


@responses.activate
@pytest.mark.parametrize("call", CALLS, ids=str)
def test_every_method_treats_an_html_answer_as_malformed(call: Call, client: GraphClient) -> None:
    _register(call, body="<html><body>Sorry, something went wrong.</body></html>", content_type="text/html")

    with pytest.raises(errors.MalformedResponse):
        call.invoke(client)


@responses.activate
@pytest.mark.parametrize("call", CALLS, ids=str)
def test_every_method_waits_out_a_throttle_then_succeeds(call: Call, client: GraphClient, clock: FakeClock) -> None:
    _register(
        call,
        status=400,
        json_body=envelope(80003, "There have been too many calls to this ad-account."),
        headers=buc_header("act_123", minutes=2),
    )
    _register(call, json_body=call.answer)

    assert call.invoke(client) is not None
    assert client.calls_made == 2
    assert clock.sleeps == [120.5]  # 2 minutes from the header, plus jitter 0.5 * base 1 s


@responses.activate
@pytest.mark.parametrize("call", IDEMPOTENT_CALLS, ids=str)
def test_every_idempotent_method_survives_a_timeout(call: Call, client: GraphClient, clock: FakeClock) -> None:
    _register(call, body=requests.ReadTimeout("read timed out"))
    _register(call, json_body=call.answer)

    assert call.invoke(client) is not None
    assert client.calls_made == 2
    assert clock.sleeps == [0.5]  # full jitter: 0.5 * min(8, 1 * 2**0)


@responses.activate
@pytest.mark.parametrize("call", ONE_SHOT_CALLS, ids=str)
def test_one_shot_methods_are_not_resent_after_a_read_timeout(call: Call, client: GraphClient) -> None:
    # The request may have reached Facebook: resending could create a second audience.
    _register(call, body=requests.ReadTimeout("read timed out"))
    _register(call, json_body=call.answer)

    with pytest.raises(errors.Transient):
        call.invoke(client)
    assert client.calls_made == 1


@responses.activate
@pytest.mark.parametrize("call", ONE_SHOT_CALLS, ids=str)
def test_one_shot_methods_are_resent_when_the_connection_never_opened(call: Call, client: GraphClient) -> None:
    _register(call, body=requests.ConnectTimeout("connect timed out"))
    _register(call, json_body=call.answer)

    assert call.invoke(client) is not None
    assert client.calls_made == 2


@responses.activate
@pytest.mark.parametrize("call", IDEMPOTENT_CALLS, ids=str)
def test_every_method_gives_up_after_the_bounded_attempts(call: Call, client: GraphClient, clock: FakeClock) -> None:
    _register(call, status=503, json_body=envelope(2, "Service temporarily unavailable"))

    with pytest.raises(errors.Transient) as caught:
        call.invoke(client)

    assert client.calls_made == 3  # max_attempts of the test policy
    assert caught.value.attempts == 3
    assert clock.sleeps == [0.5, 1.0]  # full jitter at 0.5 of 1 s, then of 2 s

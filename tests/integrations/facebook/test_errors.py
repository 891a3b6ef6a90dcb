"""Meta's error envelope -> the typed error a person can act on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.facebook import errors
from integrations.facebook.errors import CallContext, error_from_envelope, error_from_status
from integrations.facebook.retry import RetryPolicy, call_with_retries
from integrations.facebook.usage import Usage
from tests.integrations.facebook.graph_fakes import FakeClock, buc_header, envelope, make_policy

AUDIENCE_CALL = CallContext(ad_account_id="act_77", audience_id="600")
ACCOUNT_CALL = CallContext(ad_account_id="act_77")

CASES = [
    # (code, subcode, message, http, context, expected class)
    (2655, None, "Terms of service has not been accepted", 400, ACCOUNT_CALL, errors.TermsNotAccepted),
    (2663, None, "Terms of Service not accepted", 400, ACCOUNT_CALL, errors.TermsNotAccepted),
    (
        100,
        None,
        "To accept, go to https://www.facebook.com/customaudiences/app/tos/?act=5",
        400,
        ACCOUNT_CALL,
        errors.TermsNotAccepted,
    ),
    (2655, None, "Something else entirely", 400, ACCOUNT_CALL, errors.InvalidRequest),
    (
        2654,
        None,
        "Failed to create custom audience: ad account is not in a Business Manager",
        400,
        ACCOUNT_CALL,
        errors.NoBusinessManager,
    ),
    (200, None, "(#200) The current user can not update audience 600", 403, AUDIENCE_CALL, errors.PermissionMissing),
    (
        294,
        None,
        "Managing advertisements requires the extended permission ads_management",
        403,
        ACCOUNT_CALL,
        errors.PermissionMissing,
    ),
    (10, None, "Application does not have permission for this action", 403, ACCOUNT_CALL, errors.PermissionMissing),
    (190, 463, "Session has expired", 400, ACCOUNT_CALL, errors.TokenInvalid),
    (
        190,
        460,
        "The session has been invalidated because the user changed their password",
        400,
        ACCOUNT_CALL,
        errors.TokenInvalid,
    ),
    (102, None, "Session key invalid", 400, ACCOUNT_CALL, errors.TokenInvalid),
    (4, None, "Application request limit reached", 400, ACCOUNT_CALL, errors.RateLimited),
    (17, 2446079, "User request limit reached", 400, ACCOUNT_CALL, errors.RateLimited),
    (613, 1487742, "Calls to this api have exceeded the rate limit", 400, ACCOUNT_CALL, errors.RateLimited),
    (80003, None, "There have been too many calls to this ad-account", 400, ACCOUNT_CALL, errors.RateLimited),
    (80004, None, "Too many calls (ads management)", 400, ACCOUNT_CALL, errors.RateLimited),
    (1, None, "An unknown error occurred", 500, ACCOUNT_CALL, errors.Transient),
    (2, None, "Service temporarily unavailable", 503, ACCOUNT_CALL, errors.Transient),
    (
        1,
        None,
        "Please reduce the amount of data you're asking for, then retry your request",
        500,
        ACCOUNT_CALL,
        errors.PayloadTooLarge,
    ),
    (
        105,
        None,
        "The number of parameters exceeded the maximum for this operation",
        400,
        ACCOUNT_CALL,
        errors.PayloadTooLarge,
    ),
    (100, 33, "Unsupported post request. Object with ID '600' does not exist", 400, AUDIENCE_CALL, errors.AudienceGone),
    (
        100,
        33,
        "Unsupported get request. Object with ID 'act_77' does not exist",
        400,
        ACCOUNT_CALL,
        errors.PermissionMissing,
    ),
    (100, 1487366, "Custom Audience Has Been Deleted", 400, AUDIENCE_CALL, errors.AudienceGone),
    (1487301, None, "Custom audience not shared with your ad account", 400, AUDIENCE_CALL, errors.AudienceGone),
    (100, 1713230, "Audience Upload Blocked", 400, AUDIENCE_CALL, errors.AudienceFlagged),
    (2650, 1870147, "Invalid Upload Batch for Replace", 400, AUDIENCE_CALL, errors.UploadSessionRejected),
    (2635, None, "You are calling a deprecated version of the Ads API", 400, ACCOUNT_CALL, errors.InvalidRequest),
    (
        368,
        None,
        "The action attempted has been deemed abusive or is otherwise disallowed",
        400,
        ACCOUNT_CALL,
        errors.InvalidRequest,
    ),
    (194, None, "Missing required parameter", 400, ACCOUNT_CALL, errors.InvalidRequest),
    (1, None, "Error validating client secret.", 400, ACCOUNT_CALL, errors.InvalidRequest),
    (100, None, "Invalid appsecret_proof provided in the API argument", 400, ACCOUNT_CALL, errors.InvalidRequest),
    (99999, None, "Unknown code from a 500", 500, ACCOUNT_CALL, errors.Transient),
]


@pytest.mark.parametrize(("code", "subcode", "message", "http_status", "context", "expected"), CASES)
def test_envelope_maps_to_the_error_a_person_can_act_on(code, subcode, message, http_status, context, expected):
    error = error_from_envelope(envelope(code, message, subcode=subcode), http_status=http_status, context=context)

    assert type(error) is expected
    assert (error.code, error.subcode, error.http_status, error.fbtrace_id) == (code, subcode, http_status, "TRACE1")
    assert error.fix and "\n" not in error.fix


def test_permanence_and_retryability_per_class() -> None:
    assert errors.Transient.retryable and not errors.Transient.permanent
    assert errors.RateLimited.retryable and not errors.RateLimited.permanent
    assert errors.MalformedResponse.retryable
    # A too-large request is split by the caller: neither resent as is nor a reason to stop.
    assert not errors.PayloadTooLarge.retryable and not errors.PayloadTooLarge.permanent
    for permanent in (
        errors.TermsNotAccepted,
        errors.NoBusinessManager,
        errors.PermissionMissing,
        errors.TokenInvalid,
        errors.AudienceGone,
        errors.AudienceFlagged,
        errors.InvalidRequest,
    ):
        assert permanent.permanent and not permanent.retryable


def test_terms_link_prefers_the_account_named_in_the_message() -> None:
    error = error_from_envelope(
        envelope(
            2655, "Terms of service has not been accepted. https://www.facebook.com/customaudiences/app/tos/?act=5"
        ),
        http_status=400,
        context=ACCOUNT_CALL,
    )
    assert error.acceptance_url == "https://business.facebook.com/ads/manage/customaudiences/tos/?act=5"


def test_token_fix_names_what_happened() -> None:
    expired = error_from_envelope(envelope(190, "expired", subcode=463), http_status=400)
    password = error_from_envelope(envelope(190, "invalidated", subcode=460), http_status=400)
    assert "expired" in expired.fix
    assert "password" in password.fix
    assert error_from_envelope(envelope(294, "needs ads_management"), http_status=403).fix.startswith("Reconnect")


def test_throttle_wait_comes_from_the_usage_header_in_minutes() -> None:
    error = error_from_envelope(envelope(80003, "Too many"), http_status=400, headers=buc_header("act_1", 3))
    assert error.retry_after == 180.0
    assert error.retry_after_known


def test_bare_http_failures() -> None:
    assert type(error_from_status(503, message="x")) is errors.Transient
    assert type(error_from_status(429, message="x")) is errors.RateLimited
    assert type(error_from_status(413, message="x")) is errors.PayloadTooLarge
    assert type(error_from_status(404, message="x")) is errors.InvalidRequest
    assert type(error_from_status(200, message="x")) is errors.MalformedResponse


def test_error_string_and_kind() -> None:
    error = error_from_envelope(envelope(80003, "Too many"), http_status=400)
    assert str(error) == "Too many | code 80003 | HTTP 400 | fbtrace_id TRACE1"
    assert error.kind == "rate_limited"
    assert errors.TermsNotAccepted("x").kind == "terms_not_accepted"


def test_garbled_usage_headers_are_ignored() -> None:
    usage = Usage.from_headers({"X-App-Usage": "{not json", "X-Business-Use-Case-Usage": '{"1": "oops"}'})
    assert usage.is_empty
    assert usage.regain_access_seconds() == 0


@given(attempt=st.integers(min_value=1, max_value=40), draw=st.floats(min_value=0, max_value=1))
def test_backoff_is_full_jitter_under_the_cap(attempt: int, draw: float) -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0, random=lambda: draw)
    delay = policy.backoff_delay(attempt)
    assert 0 <= delay <= min(30.0, 2 ** (attempt - 1))


@given(
    outcomes=st.lists(st.sampled_from(["transient", "throttle", "ok"]), min_size=1, max_size=12),
    max_attempts=st.integers(min_value=1, max_value=6),
)
def test_retries_never_exceed_their_bounds(outcomes: list[str], max_attempts: int) -> None:
    clock = FakeClock()
    policy = make_policy(clock, max_attempts=max_attempts, max_total_seconds=200.0)
    calls = iter(outcomes)
    made = 0

    def attempt() -> str:
        nonlocal made
        made += 1
        outcome = next(calls, "ok")
        if outcome == "transient":
            raise errors.Transient("boom")
        if outcome == "throttle":
            raise errors.RateLimited("slow down", retry_after=60)
        return outcome

    try:
        call_with_retries(attempt, policy=policy)
    except errors.GraphError as error:
        assert error.attempts == made
    assert made <= max_attempts
    assert sum(clock.sleeps) <= 200.0

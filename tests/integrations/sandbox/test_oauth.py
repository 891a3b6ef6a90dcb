"""The sandbox's login dialog and token endpoints, as a connect flow uses them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from integrations.facebook import errors
from integrations.sandbox.models import SandboxAdAccountRole
from tests.integrations.sandbox.conftest import Sandbox

REDIRECT = "https://app.example.test/accounts/facebook/login/callback/"
SCOPES = "ads_management,business_management,ads_read"


def _dialog_url(app_id: str, **extra: str) -> str:
    query = {"client_id": app_id, "redirect_uri": REDIRECT, "state": "xyz", "scope": SCOPES, **extra}
    return "/sandbox/v25.0/dialog/oauth?" + "&".join(f"{key}={value}" for key, value in query.items())


def _submit(client: Client, app_id: str, **form: str):
    data = {"client_id": app_id, "redirect_uri": REDIRECT, "state": "xyz", "scope": SCOPES, **form}
    return client.post("/sandbox/v25.0/dialog/oauth", data)


def test_dialog_lists_people_scopes_and_the_terms(sandbox: Sandbox) -> None:
    page = Client().get(_dialog_url(sandbox.app_id))

    text = page.content.decode()
    assert page.status_code == 200
    assert "Robin Ready" in text and "Terry Terms" in text
    for scope in SCOPES.split(","):
        assert f'name="grant_{scope}"' in text
    assert "Custom Audience Terms" in text
    assert "http" not in text.split("<body>")[0].replace("http-equiv", "")  # no CDN assets


def test_granting_gives_a_code_that_buys_short_then_long_lived_tokens(sandbox: Sandbox) -> None:
    terry = sandbox.seeded["terms"]
    response = _submit(
        Client(),
        sandbox.app_id,
        action="allow",
        person=terry.person.fb_id,
        grant_ads_management="1",
        grant_ads_read="1",
        accept_terms="1",
    )

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.fragment == "_=_"
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]
    client = sandbox.client("terms", token="unused")
    short = client.exchange_code(
        query["code"][0], redirect_uri=REDIRECT, app_id=sandbox.app_id, app_secret=sandbox.app_secret
    )
    long = client.exchange_long_lived_token(short.access_token, app_id=sandbox.app_id, app_secret=sandbox.app_secret)

    assert short.expires_in == 7200
    assert long.expires_in == 60 * 24 * 3600
    info = client.debug_token(long.access_token, app_id=sandbox.app_id, app_secret=sandbox.app_secret)
    assert info.is_valid
    assert info.user_id == terry.person.fb_id
    assert info.scopes == ["ads_management", "ads_read"]
    assert info.expires_at - datetime.now(tz=UTC) > timedelta(days=59)
    assert sandbox.client("terms", token=long.access_token).permissions()["business_management"] == "declined"
    # Ticking the Terms box accepted them for the person's ad account.
    assert SandboxAdAccountRole.objects.get(person=terry.person).terms_accepted
    with pytest.raises(errors.InvalidRequest) as reused:
        client.exchange_code(query["code"][0], redirect_uri=REDIRECT, app_id=sandbox.app_id, app_secret="x")
    assert reused.value.code == 1  # wrong secret comes first, as at Meta


def test_codes_are_single_use_and_bound_to_the_redirect_uri(sandbox: Sandbox) -> None:
    response = _submit(Client(), sandbox.app_id, action="allow", person=sandbox.seeded["ready"].person.fb_id)
    code = parse_qs(urlsplit(response["Location"]).query)["code"][0]
    client = sandbox.client(token="unused")
    credentials = {"app_id": sandbox.app_id, "app_secret": sandbox.app_secret}

    with pytest.raises(errors.InvalidRequest) as wrong_uri:
        client.exchange_code(code, redirect_uri="https://elsewhere.test/", **credentials)
    client.exchange_code(code, redirect_uri=REDIRECT, **credentials)
    with pytest.raises(errors.InvalidRequest) as reused:
        client.exchange_code(code, redirect_uri=REDIRECT, **credentials)

    assert wrong_uri.value.subcode == 36008
    assert reused.value.subcode == 36009


def test_cancel_redirects_with_access_denied(sandbox: Sandbox) -> None:
    response = _submit(Client(), sandbox.app_id, action="deny")

    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["error"] == ["access_denied"]
    assert query["error_reason"] == ["user_denied"]
    assert query["state"] == ["xyz"]


def test_the_dialog_refuses_unknown_apps_and_odd_redirects(sandbox: Sandbox) -> None:
    assert Client().get(_dialog_url("123")).status_code == 400
    assert Client().get(_dialog_url(sandbox.app_id, redirect_uri="javascript:alert(1)")).status_code == 400


def test_token_endpoints_check_the_app_credentials(sandbox: Sandbox) -> None:
    client = sandbox.client(token="unused")
    with pytest.raises(errors.InvalidRequest) as wrong_app:
        client.app_access_token(app_id="999", app_secret=sandbox.app_secret)
    with pytest.raises(errors.InvalidRequest) as wrong_secret:
        client.exchange_long_lived_token(sandbox.token(), app_id=sandbox.app_id, app_secret="nope")

    assert wrong_app.value.code == 101
    assert "FACEBOOK_APP_SECRET" in wrong_secret.value.fix

"""How the sandbox is served: only when SANDBOX is on, at the root under run_sandbox, its tools."""

from __future__ import annotations

import importlib
import io
import socket
from collections.abc import Iterator

import pytest
import requests
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.urls import Resolver404, clear_url_caches, resolve

import config.urls
from integrations.facebook.client import GraphClient
from integrations.facebook.results import UploadSession
from integrations.sandbox import selectors, services
from integrations.sandbox.server import sandbox_server, sandbox_server_in_thread
from tests.integrations.sandbox.conftest import SCHEMA, Sandbox, population_rows


def _reload_root_urlconf() -> None:
    clear_url_caches()
    importlib.reload(config.urls)
    clear_url_caches()


@pytest.fixture
def sandbox_switched_off() -> Iterator[None]:
    with override_settings(SANDBOX=False):
        _reload_root_urlconf()
        try:
            yield
        finally:
            pass
    _reload_root_urlconf()


def test_with_the_sandbox_off_no_sandbox_url_resolves(sandbox_switched_off: None) -> None:
    for path in ("/sandbox/v25.0/me", "/sandbox/v25.0/dialog/oauth", "/sandbox/v25.0/act_1/customaudiences"):
        with pytest.raises(Resolver404):
            resolve(path)


def test_with_the_sandbox_on_its_urls_resolve() -> None:
    assert resolve("/sandbox/v25.0/me").url_name == "sandbox_me"
    assert resolve("/sandbox/v25.0/dialog/oauth").url_name == "sandbox_oauth_dialog"


@pytest.mark.django_db(transaction=True)
def test_run_sandbox_serves_metas_paths_at_the_root(settings) -> None:
    seeded = services.sandbox_seed()
    token = services.sandbox_token_issue(person=seeded["ready"].person)
    server, thread = sandbox_server_in_thread(port=0)  # a free port
    try:
        root = f"http://127.0.0.1:{server.server_port}"
        client = GraphClient(token, ad_account_id=seeded["ready"].act_id, base_url=root, version="v25.0")
        audience_id = client.custom_audience_create(name="Standalone")
        client.users_add(audience_id, schema=SCHEMA, rows=population_rows(0, 10), session=UploadSession(1, 1, True))

        assert client.me()["name"] == "Robin Ready"
        assert client.custom_audience(audience_id).size_label == "below 1,000"
        dialog = requests.get(
            f"{root}/v25.0/dialog/oauth",
            params={"client_id": settings.FACEBOOK_APP_ID, "redirect_uri": "http://localhost/cb", "state": "s"},
            timeout=10,
        )
        assert dialog.status_code == 200 and "Robin Ready" in dialog.text
        assert requests.get(f"{root}/sandbox/v25.0/me", timeout=10).status_code == 404  # no /sandbox prefix here
        client.close()  # ends the keep-alive connection, and with it the server thread and its database connection
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.django_db
def test_sandbox_token_prints_a_working_token_and_its_ad_account() -> None:
    out = io.StringIO()
    call_command("sandbox_token", stdout=out)

    token, act = out.getvalue().splitlines()
    assert act == "act_200000000000101"
    assert token.startswith("EAA")
    from integrations.sandbox.tokens import token_resolve

    assert set(token_resolve(token).scopes) == {"ads_management", "business_management", "ads_read"}


def test_sandbox_audience_prints_rows_and_the_digest_of_the_expected_membership(sandbox: Sandbox) -> None:
    client = sandbox.client()
    audience_id = client.custom_audience_create(name="Checked")
    rows = population_rows(0, 300)
    client.users_add(audience_id, schema=SCHEMA, rows=rows, session=UploadSession(1, 1, True))
    out = io.StringIO()

    call_command("sandbox_audience", audience_id, stdout=out)

    assert out.getvalue().splitlines() == ["300", selectors.audience_rows_digest(rows, schema=SCHEMA)]
    assert selectors.audience_rows_digest(rows, schema=SCHEMA) != selectors.audience_rows_digest(
        rows[:-1], schema=SCHEMA
    )


def test_no_plaintext_token_or_code_is_stored_anywhere(sandbox: Sandbox) -> None:
    """Mint every kind of token through the real flows, then read every raw column of every table."""
    secrets_seen = [sandbox.token()]
    response = Client().post(
        "/sandbox/v25.0/dialog/oauth",
        {
            "client_id": sandbox.app_id,
            "redirect_uri": "https://app.test/cb",
            "scope": "ads_read",
            "action": "allow",
            "person": sandbox.seeded["ready"].person.fb_id,
            "grant_ads_read": "1",
        },
    )
    code = response["Location"].split("code=")[1].split("&")[0]
    client = sandbox.client(token="unused")
    short = client.exchange_code(
        code, redirect_uri="https://app.test/cb", app_id=sandbox.app_id, app_secret=sandbox.app_secret
    )
    long = client.exchange_long_lived_token(short.access_token, app_id=sandbox.app_id, app_secret=sandbox.app_secret)
    app = client.app_access_token(app_id=sandbox.app_id, app_secret=sandbox.app_secret)
    secrets_seen += [code, short.access_token, long.access_token, app.access_token.split("|")[1]]

    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')
            dump = repr(cursor.fetchall())
            for secret in secrets_seen:
                assert secret not in dump, f"a token is stored in plain text in {table}"


def test_the_admin_shows_the_sandbox_switches(admin_client) -> None:
    services.sandbox_seed()
    services.sandbox_fault_switch_set(server_error_share=0.1)

    for page in ("sandboxadaccount", "sandboxfaultswitch", "sandboxtoken", "sandboxaudience", "sandboxperson"):
        response = admin_client.get(f"/admin/sandbox/{page}/")
        assert response.status_code == 200, page
    assert "no Business Manager" in admin_client.get("/admin/sandbox/sandboxadaccount/").content.decode()


def test_the_server_sends_its_answers_without_waiting_for_the_clients_acknowledgement() -> None:
    # wsgiref writes an answer in several small sends: with Nagle's algorithm left on, every
    # answer after the first on a kept-alive connection stalled 40 ms on the client's delayed ACK.
    server = sandbox_server(port=0)
    try:
        client = socket.create_connection(("127.0.0.1", server.server_port), timeout=5)
        accepted, _ = server.get_request()
        try:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            accepted.close()
            client.close()
    finally:
        server.server_close()

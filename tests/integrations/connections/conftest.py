"""Fixtures for the connection tests: canned Graph answers (responses), people with roles,
connections and sync jobs in a known state."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import responses
from django.conf import settings
from django.contrib.auth import get_user_model

from cohorts.models import Cohort
from integrations import connection_checks
from integrations.facebook.retry import NO_RETRY
from integrations.models import FacebookConnection, Project, ProjectMembership
from syncs.models import SyncJob

ACT = "act_111"
LONG_TOKEN = "EAAlongLivedTokenForTests1234567890"
ALL_SCOPES = ["ads_management", "business_management", "ads_read"]
DAY = 24 * 3600


def graph_url(path: str) -> str:
    return f"{settings.FACEBOOK_GRAPH_URL}/{settings.FACEBOOK_GRAPH_VERSION}/{path}"


def envelope(message: str, code: int, subcode: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Atrace"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


@dataclass
class FakeFacebook:
    """What the Graph answers, as plain data a test changes before each check."""

    mock: responses.RequestsMock
    valid: bool = True
    token_error: dict[str, Any] | None = None
    scopes: list[str] = field(default_factory=lambda: list(ALL_SCOPES))
    expires_in: int | None = 50 * DAY
    user_id: str = "900"
    user_name: str = "Robin Ready"
    app_id: str = ""
    account: dict[str, Any] = field(default_factory=dict)
    account_error: dict[str, Any] | None = None
    audiences_error: dict[str, Any] | None = None
    ad_accounts: list[dict[str, Any]] = field(default_factory=list)
    revoke_ok: bool = True
    down: bool = False  # every debug_token call answers HTTP 500, code 2
    down_from_call: int | None = None  # ... from this debug_token call on (1-based)
    debug_calls: int = 0
    serves_user_tasks: bool = True

    def __post_init__(self) -> None:
        self.app_id = self.app_id or str(settings.FACEBOOK_APP_ID)
        self.account = self.account or account_json()
        self.ad_accounts = self.ad_accounts or [self.account]
        m = self.mock
        m.add_callback(responses.GET, graph_url("debug_token"), callback=self._debug_token)
        m.add_callback(responses.GET, graph_url("me"), callback=self._me)
        m.add_callback(responses.GET, graph_url("me/adaccounts"), callback=lambda r: _ok({"data": self.ad_accounts}))
        m.add_callback(responses.GET, graph_url(ACT), callback=self._account)
        m.add_callback(responses.GET, graph_url(f"{ACT}/customaudiences"), callback=self._audiences)
        m.add_callback(responses.DELETE, graph_url("me/permissions"), callback=self._revoke)
        m.add_callback(
            responses.GET,
            graph_url("oauth/access_token"),
            callback=lambda r: _ok({"access_token": LONG_TOKEN, "token_type": "bearer", "expires_in": 60 * DAY}),
        )

    def _me(self, request):
        return _ok({"id": self.user_id, "name": self.user_name})

    def _debug_token(self, request):
        self.debug_calls += 1
        if self.down or (self.down_from_call is not None and self.debug_calls >= self.down_from_call):
            return _error(500, envelope("An unexpected error has occurred. Please retry your request later.", 2))
        data: dict[str, Any] = {
            "is_valid": self.valid,
            "app_id": self.app_id,
            "user_id": self.user_id,
            "scopes": self.scopes,
            "expires_at": int(time.time()) + self.expires_in if self.expires_in is not None else 0,
        }
        if self.token_error:
            data["error"] = self.token_error
        return _ok({"data": data})

    def _account(self, request):
        if not self.serves_user_tasks and "user_tasks" in request.url:
            return _error(400, envelope("(#100) Tried accessing nonexisting field (user_tasks) on node type", 100))
        if self.account_error:
            return _error(400, self.account_error)
        return _ok(self.account)

    def _audiences(self, request):
        if self.audiences_error:
            return _error(400, self.audiences_error)
        return _ok({"data": []})

    def _revoke(self, request):
        if not self.revoke_ok:
            return _error(400, envelope("Error validating access token", 190, 460))
        return _ok({"success": True})

    def calls(self, path: str) -> int:
        return sum(1 for call in self.mock.calls if call.request.url.split("?")[0] == graph_url(path))


def account_json(
    *, act: str = ACT, name: str = "Acme Main", status: int = 1, business: bool = True, terms: bool = True, **extra
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": act,
        "account_id": act.removeprefix("act_"),
        "name": name,
        "account_status": status,
        "tos_accepted": {"custom_audience_tos": int(terms)},
        "user_tos_accepted": {"custom_audience_tos": int(terms)},
        "currency": "USD",
    }
    if business:
        data["business"] = {"id": "77", "name": "Acme BM"}
    data.update(extra)
    return data


def _json(data: Any) -> str:
    import json

    return json.dumps(data)


def _ok(data: Any):
    return 200, {"Content-Type": "application/json"}, _json(data)


def _error(status: int, data: Any):
    return status, {"Content-Type": "application/json"}, _json(data)


@pytest.fixture
def fb(monkeypatch):
    # No waiting between attempts: an unreachable Facebook is answered at once.
    monkeypatch.setattr(connection_checks, "CHECK_RETRY_POLICY", NO_RETRY)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeFacebook(mock)


@pytest.fixture
def admin_user(project, make_member):
    return make_member(project, ProjectMembership.Role.ADMIN)


@pytest.fixture
def make_connection(project, admin_user):
    def make(**overrides) -> FacebookConnection:
        values: dict[str, Any] = {
            "project": project,
            "ad_account_id": ACT,
            "ad_account_name": "Acme Main",
            "access_token": LONG_TOKEN,
            "facebook_user_id": "900",
            "facebook_user_name": "Robin Ready",
            "connected_by": admin_user,
            "status": FacebookConnection.Status.ACTIVE,
            "granted_scopes": list(ALL_SCOPES),
        }
        values.update(overrides)
        from django.utils import timezone

        values.setdefault("connected_at", timezone.now())
        return FacebookConnection.objects.create(**values)

    return make


@pytest.fixture
def make_job():
    def make(connection: FacebookConnection, *, name: str = "Buyers", **overrides) -> SyncJob:
        cohort, _ = Cohort.objects.get_or_create(
            project=connection.project, amplitude_cohort_id=f"c-{name}", defaults={"name": name}
        )
        values: dict[str, Any] = {"cohort": cohort, "connection": connection, "audience_name": name}
        values.update(overrides)
        if values.get("status") == SyncJob.Status.SUCCEEDED:
            # A healthy job has run and succeeded: a release returns it to exactly that.
            from django.utils import timezone

            values.setdefault("last_run_at", timezone.now())
            values.setdefault("last_success_at", values["last_run_at"])
        return SyncJob.objects.create(**values)

    return make


def make_project(slug: str) -> Project:
    return Project.objects.create(name=slug.title(), slug=slug)


def member(project: Project, role: str, username: str):
    user = get_user_model().objects.create_user(username=username, password="pw", is_staff=True)
    ProjectMembership.objects.create(user=user, project=project, role=role)
    return user

"""The whole connect flow against the sandbox: our pages through the Django test client, the
sandbox's dialog submitted like a person would, and allauth's server-side code exchange (plus our
long-lived exchange and checks) over real HTTP to the sandbox on pytest-django's live server."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.contrib.auth import get_user_model
from django.db import connection as db
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from integrations.models import AuditEvent, FacebookConnection, ProjectMembership
from integrations.sandbox import services as sandbox
from integrations.sandbox.models import SandboxToken
from syncs.models import SyncJob

pytestmark = pytest.mark.usefixtures("transactional_db")

Status = FacebookConnection.Status
SCOPES = ("ads_management", "business_management", "ads_read")
TOKEN_SHAPE = re.compile(r"EAA[A-Za-z0-9]{40,}")


@pytest.fixture
def seeded(live_server, settings):
    settings.SANDBOX_REQUIRE_APPSECRET_PROOF = False
    return sandbox.sandbox_seed()


@pytest.fixture
def admin_client(client, project, make_member):
    user = make_member(project, ProjectMembership.Role.ADMIN, username="ada")
    client.force_login(user)
    client.user = user
    return client


def seen(response) -> str:
    """The page's text as a person reads it (tags gone, entities decoded, spaces collapsed)."""
    return " ".join(html.unescape(strip_tags(response.content.decode())).split())


def project_url(project) -> str:
    return reverse("admin:integrations_project_change", args=[project.pk])


def connection_url(connection, name: str = "change") -> str:
    return reverse(f"admin:integrations_facebookconnection_{name}", args=[connection.pk])


def dialog_start(client, start_url: str) -> tuple[str, dict[str, str]]:
    """POST Continue with Facebook (or Reconnect); returns the dialog's path and query."""
    response = client.post(start_url)
    assert response.status_code == 302, response.content[:500]
    location = urlsplit(response["Location"])
    assert location.path.endswith("/sandbox/v25.0/dialog/oauth")
    query = {key: values[0] for key, values in parse_qs(location.query).items()}
    return location.path, query


def dialog_submit(client, path: str, query: dict[str, str], person, *, grant=SCOPES, action="allow") -> str:
    """The person's choice in the sandbox dialog; returns where Facebook sends the browser back."""
    page = client.get(path, query)
    assert page.status_code == 200 and person.name in page.content.decode()
    form = {
        "client_id": query["client_id"],
        "redirect_uri": query["redirect_uri"],
        "state": query.get("state", ""),
        "scope": query["scope"],
        "person": person.fb_id,
        "action": action,
        **{f"grant_{scope}": "1" for scope in grant},
    }
    response = client.post(path, form)
    assert response.status_code == 302
    return response["Location"].split("#")[0]


def callback(client, url: str):
    parts = urlsplit(url)
    return client.get(parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()})


def connect(client, project, person, *, grant=SCOPES, choose=True) -> FacebookConnection:
    path, query = dialog_start(client, reverse("admin:integrations_project_facebook_connect", args=[project.pk]))
    assert set(query["scope"].split(",")) == set(SCOPES)
    assert query["state"]
    response = callback(client, dialog_submit(client, path, query, person, grant=grant))
    assert response.status_code == 302, response.content[:800]
    connection = FacebookConnection.objects.filter(project=project).latest("created_at")
    assert response["Location"] == connection_url(connection, "ad_account")
    if choose:
        act = next(role.ad_account.act_id for role in person.roles.all())
        page = client.get(response["Location"])
        assert act in page.content.decode()
        chosen = client.post(response["Location"], {"ad_account_id": act})
        assert chosen["Location"] == connection_url(connection)
        connection.refresh_from_db()
    return connection


def actions(project) -> list[str]:
    return list(AuditEvent.objects.filter(project=project).order_by("id").values_list("action", flat=True))


def test_continue_with_facebook_connects_the_project_with_a_long_lived_encrypted_token(seeded, admin_client, project):
    ready = seeded["ready"]
    page = admin_client.get(project_url(project)).content.decode()
    assert "Continue with Facebook" in page

    connection = connect(admin_client, project, ready.person)

    assert connection.status == Status.ACTIVE, connection.problem_message
    assert connection.ad_account_id == ready.act_id and connection.business_name
    assert connection.token_source == FacebookConnection.TokenSource.OAUTH
    assert connection.facebook_user_name == "Robin Ready" and connection.connected_by == admin_client.user
    assert set(connection.granted_scopes) >= set(SCOPES)
    # fb_exchange_token happened: a ~60-day token, not the dialog's 2-hour one.
    assert connection.token_expires_at > timezone.now() + timedelta(days=50)
    assert actions(project) == ["connection.connected", "connection.ad_account_chosen"]
    page = seen(admin_client.get(project_url(project)))
    assert "Acme Outdoor - Main" in page and "Active" in page


def test_no_plaintext_token_anywhere_in_the_database_after_connecting(seeded, admin_client, project):
    connection = connect(admin_client, project, seeded["ready"].person)
    token = connection.access_token
    assert TOKEN_SHAPE.fullmatch(token)
    with db.cursor() as cursor:
        cursor.execute("SELECT access_token FROM integrations_facebookconnection WHERE id = %s", [connection.pk])
        (raw,) = cursor.fetchone()
        assert raw.startswith("fernet:") and token not in raw
        found = []
        for table in db.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {db.ops.quote_name(table)}")  # table names come from introspection
            for row in cursor.fetchall():
                for value in row:
                    text = value.decode(errors="ignore") if isinstance(value, bytes | memoryview) else str(value)
                    if token in text or TOKEN_SHAPE.search(text):
                        found.append(table)
    assert found == []
    assert not SocialToken.objects.exists()
    assert all("token" not in str(account.extra_data).lower() for account in SocialAccount.objects.all())


def test_a_forged_missing_or_replayed_oauth_state_is_refused(seeded, admin_client, project):
    path, query = dialog_start(admin_client, reverse("admin:integrations_project_facebook_connect", args=[project.pk]))
    back = urlsplit(dialog_submit(admin_client, path, query, seeded["ready"].person))
    params = {k: v[0] for k, v in parse_qs(back.query).items()}

    forged = admin_client.get(back.path, {**params, "state": "forged-state"})
    missing = admin_client.get(back.path, {"code": params["code"]})
    assert forged.status_code == missing.status_code == 401
    assert not FacebookConnection.objects.exists()

    assert admin_client.get(back.path, params).status_code == 302  # the real state, once
    replay = admin_client.get(back.path, params)
    assert replay.status_code == 401
    assert FacebookConnection.objects.count() == 1


def test_cancelling_the_dialog_changes_nothing_and_says_so(seeded, admin_client, project):
    path, query = dialog_start(admin_client, reverse("admin:integrations_project_facebook_connect", args=[project.pk]))
    response = callback(admin_client, dialog_submit(admin_client, path, query, seeded["ready"].person, action="deny"))
    assert response["Location"] == project_url(project)
    assert "Facebook connection cancelled; nothing was changed." in seen(admin_client.get(response["Location"]))
    assert not FacebookConnection.objects.exists() and actions(project) == []


@pytest.mark.parametrize(
    ("key", "code", "fix_part"),
    [
        (
            "terms",
            "terms_not_accepted",
            "Terry Terms (the Facebook person who connected) must accept them personally: open "
            "https://business.facebook.com/ads/manage/customaudiences/tos/?act=200000000000102 while logged in to "
            "Facebook as that person",
        ),
        ("no_business", "no_business_manager", "Add this ad account to a Business Manager"),
        ("no_permission", "permission_missing", "Advertiser or Admin role"),
    ],
)
def test_each_common_error_shows_its_fix_and_holds_the_sync_until_it_is_fixed(
    seeded, admin_client, project, make_job, key, code, fix_part
):
    connection = connect(admin_client, project, seeded[key].person)
    assert connection.status == Status.NEEDS_ATTENTION
    assert connection.problem_code == code
    job = make_job(connection, status=SyncJob.Status.SUCCEEDED)

    admin_client.post(connection_url(connection, "check"))

    page = seen(admin_client.get(connection_url(connection)))
    assert "Needs attention" in page and fix_part in page
    assert fix_part in seen(admin_client.get(project_url(project)))
    job.refresh_from_db()
    assert job.status == SyncJob.Status.NEEDS_ATTENTION
    assert fix_part in job.status_fix
    assert actions(project).count("connection.check_failed") == 1


def test_after_the_terms_are_accepted_check_again_resumes_the_held_sync(seeded, admin_client, project, make_job):
    terry = seeded["terms"]
    connection = connect(admin_client, project, terry.person)
    job = make_job(connection, status=SyncJob.Status.SUCCEEDED)
    admin_client.post(connection_url(connection, "check"))  # holds the job (same problem: no new event)
    sandbox.sandbox_terms_set(ad_account_id=terry.act_id, accepted=True, person=terry.person)

    admin_client.post(connection_url(connection, "check"))

    connection.refresh_from_db()
    job.refresh_from_db()
    assert connection.status == Status.ACTIVE and connection.terms_status == "accepted"
    assert job.status == SyncJob.Status.SUCCEEDED and job.status_reason == ""
    assert actions(project) == [
        "connection.connected",
        "connection.ad_account_chosen",
        "connection.check_failed",
        "connection.check_passed",
    ]


def test_a_declined_permission_is_named_with_its_fix(seeded, admin_client, project):
    connection = connect(admin_client, project, seeded["ready"].person, grant=("ads_management", "ads_read"))
    assert connection.problem_code == "scope_missing"
    assert "business_management" in connection.problem_message
    assert "leave business_management switched on" in connection.problem_fix


@pytest.mark.parametrize(
    ("change", "code", "text"),
    [
        (sandbox.sandbox_tokens_expire, "token_expired", "The Facebook token expired on"),
        (sandbox.sandbox_tokens_revoke, "token_invalid", "Facebook no longer accepts the saved token"),
    ],
    ids=["expired", "revoked"],
)
def test_an_expired_or_revoked_token_holds_the_syncs_until_someone_reconnects(
    seeded, admin_client, project, make_job, change, code, text
):
    ready = seeded["ready"]
    connection = connect(admin_client, project, ready.person)
    job = make_job(connection, status=SyncJob.Status.SUCCEEDED)
    change(person=ready.person)

    admin_client.post(connection_url(connection, "check"))

    connection.refresh_from_db()
    job.refresh_from_db()
    assert (connection.status, connection.problem_code) == (Status.NEEDS_ATTENTION, code)
    assert text in seen(admin_client.get(connection_url(connection)))
    assert job.status == SyncJob.Status.NEEDS_ATTENTION and text in job.status_reason

    path, query = dialog_start(admin_client, connection_url(connection, "reconnect"))
    response = callback(admin_client, dialog_submit(admin_client, path, query, ready.person))
    assert response["Location"] == connection_url(connection)
    connection.refresh_from_db()
    job.refresh_from_db()
    assert connection.status == Status.ACTIVE and job.status == SyncJob.Status.SUCCEEDED


def test_disconnect_revokes_and_erases_then_reconnecting_as_another_person_resumes_the_same_syncs(
    seeded, admin_client, project, make_job
):
    terry, robin = seeded["terms"], seeded["ready"]
    connection = connect(admin_client, project, terry.person)
    job = make_job(connection, status=SyncJob.Status.SUCCEEDED)

    assert admin_client.get(connection_url(connection, "disconnect")).status_code == 200
    admin_client.post(connection_url(connection, "disconnect"))

    connection.refresh_from_db()
    job.refresh_from_db()
    assert connection.status == Status.DISCONNECTED and connection.access_token == ""
    assert not SandboxToken.objects.filter(person=terry.person, revoked_at__isnull=True).exists()
    assert job.status == SyncJob.Status.NEEDS_ATTENTION and "Disconnected by ada" in job.status_reason
    disconnected = AuditEvent.objects.get(action="connection.disconnected")
    assert disconnected.changes["revoked_at_facebook"] is True and disconnected.changes["jobs_held"] == 1

    # Robin, who has accepted the Terms, becomes an admin of Terry's ad account and reconnects.
    sandbox.sandbox_role_set(ad_account_id=terry.act_id, person=robin.person, role="admin")
    path, query = dialog_start(admin_client, connection_url(connection, "reconnect"))
    response = callback(admin_client, dialog_submit(admin_client, path, query, robin.person))

    assert response["Location"] == connection_url(connection)
    assert FacebookConnection.objects.count() == 1
    connection.refresh_from_db()
    job.refresh_from_db()
    assert connection.status == Status.ACTIVE and connection.facebook_user_name == "Robin Ready"
    assert job.status == SyncJob.Status.SUCCEEDED
    reconnected = AuditEvent.objects.get(action="connection.reconnected")
    assert reconnected.changes["facebook_person_changed"] is True
    passed = AuditEvent.objects.get(action="connection.check_passed")
    assert passed.changes["jobs_resumed"] == 1


def test_a_pasted_system_user_token_is_validated_and_connects_the_same_way(seeded, admin_client, project):
    ready = seeded["ready"]
    url = reverse("admin:integrations_project_system_user_token", args=[project.pk])
    bad = admin_client.post(url, {"token": "EAAnotARealToken" + "x" * 60})
    assert bad.status_code == 200 and "not valid" in bad.content.decode()
    assert "EAAnotARealToken" not in bad.content.decode()
    assert not FacebookConnection.objects.exists()

    token = sandbox.sandbox_token_issue(person=ready.person)
    response = admin_client.post(url, {"token": token})
    connection = FacebookConnection.objects.get()
    assert response["Location"] == connection_url(connection, "ad_account")
    admin_client.post(response["Location"], {"ad_account_id": ready.act_id})

    connection.refresh_from_db()
    assert connection.status == Status.ACTIVE
    assert connection.token_source == FacebookConnection.TokenSource.SYSTEM_USER
    assert connection.access_token == token
    assert actions(project) == ["connection.connected", "connection.ad_account_chosen"]


@pytest.mark.parametrize("process", ["login", "connect"])
def test_nobody_logs_in_or_signs_up_with_facebook(seeded, client, process):
    response = client.post(f"/accounts/facebook/login/?process={process}")
    location = urlsplit(response["Location"])
    query = {key: values[0] for key, values in parse_qs(location.query).items()}

    response = callback(client, dialog_submit(client, location.path, query, seeded["ready"].person))

    assert response.status_code == 403
    assert "_auth_user_id" not in client.session
    assert not get_user_model().objects.exists() and not SocialAccount.objects.exists()
    assert not FacebookConnection.objects.exists()


def test_a_logged_in_admin_cannot_use_facebook_as_a_login_either(seeded, admin_client, project):
    response = admin_client.post("/accounts/facebook/login/?process=login")
    location = urlsplit(response["Location"])
    query = {key: values[0] for key, values in parse_qs(location.query).items()}
    response = callback(admin_client, dialog_submit(admin_client, location.path, query, seeded["ready"].person))
    assert response.status_code == 403
    assert "Signing in with Facebook is not available" in seen(response)
    assert not SocialAccount.objects.exists() and not FacebookConnection.objects.exists()

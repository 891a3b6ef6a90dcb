"""Who may do what with a connection: admins connect, disconnect and reconnect; viewers and
operators get 403; members of another project do not see the connection at all (404);
every state change is a POST with the CSRF token."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from integrations.models import AuditEvent, FacebookConnection, ProjectMembership

pytestmark = pytest.mark.django_db

Role = ProjectMembership.Role


def connection_urls(connection) -> dict[str, str]:
    name = "admin:integrations_facebookconnection"
    return {
        "change": reverse(f"{name}_change", args=[connection.pk]),
        "ad_account": reverse(f"{name}_ad_account", args=[connection.pk]),
        "check": reverse(f"{name}_check", args=[connection.pk]),
        "disconnect": reverse(f"{name}_disconnect", args=[connection.pk]),
        "reconnect": reverse(f"{name}_reconnect", args=[connection.pk]),
        "reconnect_token": reverse(f"{name}_reconnect_token", args=[connection.pk]),
    }


def project_urls(project) -> dict[str, str]:
    return {
        "change": reverse("admin:integrations_project_change", args=[project.pk]),
        "connect": reverse("admin:integrations_project_facebook_connect", args=[project.pk]),
        "system_user_token": reverse("admin:integrations_project_system_user_token", args=[project.pk]),
    }


# (method, url name) of every action only a project admin may take.
ADMIN_ONLY = [
    ("post", "project", "connect"),
    ("get", "project", "system_user_token"),
    ("post", "project", "system_user_token"),
    ("get", "connection", "ad_account"),
    ("post", "connection", "ad_account"),
    ("get", "connection", "disconnect"),
    ("post", "connection", "disconnect"),
    ("post", "connection", "reconnect"),
    ("get", "connection", "reconnect_token"),
    ("post", "connection", "reconnect_token"),
]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_viewers_and_operators_get_403_on_connect_disconnect_and_reconnect(
    client, project, make_member, make_connection, role
):
    connection = make_connection()
    client.force_login(make_member(project, role))
    urls = {"project": project_urls(project), "connection": connection_urls(connection)}
    for method, kind, name in ADMIN_ONLY:
        response = getattr(client, method)(urls[kind][name], {"token": "x", "ad_account_id": "act_1"})
        assert response.status_code == 403, (method, name)
    connection.refresh_from_db()
    assert connection.status == FacebookConnection.Status.ACTIVE and connection.access_token
    assert not AuditEvent.objects.exists()
    page = client.get(urls["connection"]["change"]).content.decode()
    assert "Disconnect" not in page and "Reconnect as another person" not in page
    assert "Continue with Facebook" not in client.get(urls["project"]["change"]).content.decode()


def test_an_operator_may_check_again_but_a_viewer_may_not(client, project, make_member, make_connection, fb):
    connection = make_connection()
    client.force_login(make_member(project, Role.VIEWER))
    assert client.post(connection_urls(connection)["check"]).status_code == 403
    client.force_login(make_member(project, Role.OPERATOR))
    assert client.post(connection_urls(connection)["check"]).status_code == 302
    assert fb.calls("debug_token") == 1


def test_a_member_of_another_project_cannot_see_the_connection_at_all(
    client, project, other_project, make_member, make_connection
):
    connection = make_connection()
    client.force_login(make_member(other_project, Role.ADMIN))
    post_only = {"check", "reconnect"}
    for name, url in connection_urls(connection).items():
        assert client.post(url).status_code == 404, name
        # A GET of a POST-only page is refused before any lookup: 405 for every id alike.
        assert client.get(url).status_code == (405 if name in post_only else 404), name
    for name, url in project_urls(project).items():
        assert client.post(url).status_code == 404, name
    listing = client.get(reverse("admin:integrations_facebookconnection_changelist")).content.decode()
    assert "Acme Main" not in listing


def test_state_changes_need_post_and_the_csrf_token(project, make_member, make_connection):
    connection = make_connection()
    admin = make_member(project, Role.ADMIN, username="csrf-admin")
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    for url in (
        project_urls(project)["connect"],
        connection_urls(connection)["check"],
        connection_urls(connection)["reconnect"],
    ):
        assert client.get(url).status_code == 405, url
        assert client.post(url).status_code == 403, url
    assert client.post(connection_urls(connection)["disconnect"]).status_code == 403
    connection.refresh_from_db()
    assert connection.status == FacebookConnection.Status.ACTIVE


def test_the_connect_button_posts_with_the_csrf_token_and_starts_allauths_connect_process(
    project, make_member
):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_member(project, Role.ADMIN, username="csrf-admin"))
    page = client.get(project_urls(project)["change"])
    token = page.cookies["csrftoken"].value
    response = client.post(project_urls(project)["connect"], {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert "/dialog/oauth?" in response["Location"] and "state=" in response["Location"]
    states = client.session["socialaccount_states"]
    (state, _, _), = states.values()
    assert state["process"] == "connect"
    pending = client.session["integrations.facebook_connect_pending"]
    assert [entry["project_id"] for entry in pending.values()] == [project.pk]


def test_facebook_can_neither_sign_anybody_up_nor_in(client, project):
    assert client.get("/accounts/signup/").status_code in (200, 302)
    client.post("/accounts/signup/", {"username": "mallory", "password1": "x8!Pq-long", "password2": "x8!Pq-long"})
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="mallory").exists()


def test_a_viewer_sees_the_project_page_without_its_secrets(client, project, make_member):
    project.amplitude_api_key = "amp-key-visible-to-nobody"
    project.save()
    client.force_login(make_member(project, Role.VIEWER))
    response = client.get(project_urls(project)["change"])
    assert response.status_code == 200
    assert "amp-key-visible-to-nobody" not in response.content.decode()

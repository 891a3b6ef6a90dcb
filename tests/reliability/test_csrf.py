"""CSRF protection on every state-changing request, and no state change on GET.

Every URL of the site (the admin's own and custom routes, allauth's; not the sandbox,
which stands in for Facebook and Amplitude and is off in production) is sent POST,
PUT, PATCH and DELETE without a CSRF token by a logged-in superuser, through Django's
test client with `enforce_csrf_checks=True`: each is refused with Django's CSRF failure,
and nothing in the database changes. GETs of every URL change nothing either, so no
state change can slip past CSRF through a link.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse

from tests.reliability.admin_walk import site_routes, urls_for

pytestmark = pytest.mark.django_db

CSRF_FAILURE = b"CSRF verification failed"
SANDBOX_ADMIN = ("/admin/sandbox/", "/admin/amplitude_sandbox/")
# Written by reading a page (a login, a session, the admin's "recent actions") or by a
# queue that is not ours: not the project's state.
NOT_STATE = {"sessions.Session", "admin.LogEntry", "django_q.OrmQ", "django_q.Task"}


def database_state() -> dict[str, list]:
    state = {}
    for model in apps.get_models():
        label = model._meta.label
        if label not in NOT_STATE and not model._meta.proxy:
            state[label] = list(model._default_manager.order_by("pk").values())
    return state


@pytest.fixture
def everything(project, make_world, superuser):
    world = make_world(project)
    from integrations.sandbox.services import sandbox_seed

    sandbox_seed()
    return world


@pytest.fixture
def csrf_client(superuser) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    return client


def every_url(project) -> list[str]:
    """Each route once (filtered changelists are the same views: left out)."""
    urls = [url for route in site_routes(("admin/", "accounts/")) for url in urls_for(route, project)]
    return [url for url in urls if "?" not in url]


def test_every_state_changing_request_without_a_csrf_token_is_refused(csrf_client, project, everything):
    before = database_state()
    urls = every_url(project)
    assert len(urls) > 150
    accepted = []
    for url in urls:
        for method in ("post", "put", "patch", "delete"):
            response = getattr(csrf_client, method)(url, {})
            if response.status_code != 403 or CSRF_FAILURE not in response.content:
                accepted.append(f"{method.upper()} {url}: HTTP {response.status_code}")
    assert not accepted, "\n".join(accepted[:40])
    assert database_state() == before


def test_with_its_csrf_token_the_same_kind_of_request_goes_through(csrf_client, everything):
    """The control: the refusals above are CSRF refusals, not a broken page."""
    job = everything["jobs"][0]
    page = csrf_client.get(reverse("admin:syncs_syncjob_change", args=[job.pk]))
    assert page.status_code == 200
    token = csrf_client.cookies["csrftoken"].value
    response = csrf_client.post(reverse("admin:syncs_syncjob_pause", args=[job.pk]), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.enabled is False


def test_no_get_changes_anything(csrf_client, project, everything):
    before = database_state()
    for url in every_url(project):
        if not url.startswith(SANDBOX_ADMIN):  # the stand-in Facebook's own switches (off in production)
            csrf_client.get(url)
    changed = [label for label, rows in database_state().items() if rows != before[label]]
    assert not changed, changed

"""The OAuth `state` binds Facebook's answer to the session and the person who started the connect.

Forged, missing and replayed states are covered in tests/integrations/connections/; here,
the attacks across people: Facebook's answer for one person's connect, delivered in another
person's browser (login CSRF: the attacker's code and state), and a state cut or altered.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from integrations.models import AuditEvent, FacebookConnection, ProjectMembership
from tests.integrations.connections.test_connect_sandbox import dialog_start, dialog_submit

pytestmark = [pytest.mark.usefixtures("transactional_db"), pytest.mark.slow]


@pytest.fixture
def seeded(live_server, settings):
    from integrations.sandbox import services as sandbox

    settings.SANDBOX_REQUIRE_APPSECRET_PROOF = False
    return sandbox.sandbox_seed()


def admin_of(project, make_member, username: str) -> Client:
    client = Client()
    client.force_login(make_member(project, ProjectMembership.Role.ADMIN, username=username))
    return client


def facebook_answer(client: Client, project, person) -> tuple[str, dict[str, str]]:
    """Start Continue with Facebook as `client` and let `person` allow it: the callback and its query."""
    path, query = dialog_start(client, reverse("admin:integrations_project_facebook_connect", args=[project.pk]))
    back = urlsplit(dialog_submit(client, path, query, person))
    return back.path, {key: values[0] for key, values in parse_qs(back.query).items()}


def test_an_answer_meant_for_one_person_is_refused_in_another_persons_browser(
    seeded, project, other_project, make_member
):
    mallory = admin_of(other_project, make_member, "mallory")
    alice = admin_of(project, make_member, "alice")
    callback, params = facebook_answer(mallory, other_project, seeded["ready"].person)

    # Mallory gets Alice's browser to open the callback with Mallory's code and state.
    response = alice.get(callback, params)
    assert response.status_code in (401, 403)
    assert not FacebookConnection.objects.exists() and not AuditEvent.objects.exists()

    # Even when Alice has a connect of her own under way, Mallory's state is not hers.
    facebook_answer(alice, project, seeded["ready"].person)
    assert alice.get(callback, params).status_code in (401, 403)
    assert not FacebookConnection.objects.exists()

    # Mallory's state, still unused in Mallory's session, works there once (the control).
    assert mallory.get(callback, params).status_code == 302
    assert FacebookConnection.objects.filter(project=other_project).count() == 1


@pytest.mark.parametrize("change", ["cut", "altered", "another state's"])
def test_a_cut_or_altered_state_is_refused(seeded, project, make_member, change):
    alice = admin_of(project, make_member, "alice")
    callback, params = facebook_answer(alice, project, seeded["ready"].person)
    _, second = facebook_answer(alice, project, seeded["ready"].person)
    state = params["state"]
    forged = {
        "cut": state[: len(state) // 2],
        "altered": state[:-1] + ("A" if state[-1] != "A" else "B"),
        "another state's": second["state"] + "x",
    }[change]
    response = alice.get(callback, {**params, "state": forged})
    assert response.status_code == 401
    assert not FacebookConnection.objects.exists()

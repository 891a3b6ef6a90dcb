"""Admin login attempts are throttled per username and per address, with a clear message.

Each test uses its own username and client address, so counts kept in a shared cache
(Redis, in CI) by another run never meet these.
"""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from integrations.login_throttle import login_throttle_reset

pytestmark = pytest.mark.django_db

LOGIN = "admin:login"


@pytest.fixture
def someone():
    username = f"ops-{uuid.uuid4().hex[:8]}"
    user = get_user_model().objects.create_user(username, password="the-right-password", is_staff=True)
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    yield user, address
    login_throttle_reset(username=username, address=address)


def attempt(client, username: str, password: str, address: str):
    client.logout()
    return client.post(
        reverse(LOGIN), {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address
    )


def logged_in(response) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.client.session


def test_after_five_failures_even_the_right_password_is_refused_with_a_message(client, someone, settings):
    user, address = someone
    assert settings.LOGIN_THROTTLE_FAILURES == 5
    for _ in range(5):
        response = attempt(client, user.username, "guess", address)
        assert response.status_code == 200 and not logged_in(response)
        assert "Too many failed login attempts" not in response.content.decode()
    response = attempt(client, user.username, "the-right-password", address)
    assert not logged_in(response)
    page = response.content.decode()
    assert "Too many failed login attempts" in page and "minute" in page


def test_the_lock_follows_the_username_from_another_address(client, someone):
    user, address = someone
    for _ in range(5):
        attempt(client, user.username, "guess", address)
    response = attempt(client, user.username.upper(), "the-right-password", "192.0.2.77")
    assert not logged_in(response)
    assert "Too many failed login attempts" in response.content.decode()
    login_throttle_reset(address="192.0.2.77")


def test_one_address_guessing_many_usernames_is_stopped(client, someone, settings):
    user, address = someone
    settings.LOGIN_THROTTLE_FAILURES_PER_ADDRESS = 8
    for number in range(8):
        attempt(client, f"nobody-{number}-{uuid.uuid4().hex[:6]}", "guess", address)
    response = attempt(client, user.username, "the-right-password", address)
    assert not logged_in(response)
    assert "Too many failed login attempts" in response.content.decode()
    # From elsewhere the person logs in: only the guessing address is locked.
    assert logged_in(attempt(client, user.username, "the-right-password", f"{address}1"))
    login_throttle_reset(address=f"{address}1")


def test_a_success_clears_the_count_and_the_lock_ends_with_its_window(client, someone, settings):
    user, address = someone
    for _ in range(4):
        attempt(client, user.username, "guess", address)
    assert logged_in(attempt(client, user.username, "the-right-password", address))
    for _ in range(4):  # counted from zero again: four more failures do not lock
        attempt(client, user.username, "guess", address)
    assert logged_in(attempt(client, user.username, "the-right-password", address))

    settings.LOGIN_THROTTLE_WINDOW_SECONDS = 1
    login_throttle_reset(username=user.username, address=address)
    for _ in range(5):
        attempt(client, user.username, "guess", address)
    assert not logged_in(attempt(client, user.username, "the-right-password", address))
    import time

    time.sleep(1.2)
    assert logged_in(attempt(client, user.username, "the-right-password", address))

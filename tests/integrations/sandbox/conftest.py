"""Fixtures for the Facebook sandbox tests: seeded people, their tokens, a real Graph client
talking HTTP to the sandbox mounted on pytest-django's live server."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from integrations.facebook.client import GraphClient
from integrations.facebook.retry import RetryPolicy
from integrations.sandbox import faults, population, services

# Matching the uploaded rows needs the population index: keep it small in tests
# (about 0.3 s to build once per machine, then read from a cached file).
TEST_POPULATION_SIZE = 30_000
SCHEMA = ["EMAIL", "PHONE"]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def population_rows(start: int, stop: int) -> list[list[str]]:
    """Rows as the engine sends them: hashed email and phone of people start..stop-1."""
    rows = []
    for index in range(start, stop):
        person = population.person(index)
        rows.append([sha(person.email), sha(person.phone)])
    return rows


def matched_count(start: int, stop: int) -> int:
    return sum(
        1 for index in range(start, stop) if index < TEST_POPULATION_SIZE and population.person(index).on_facebook
    )


@pytest.fixture(autouse=True)
def _sandbox_settings(settings) -> Iterator[None]:
    settings.SANDBOX_POPULATION_SIZE = TEST_POPULATION_SIZE
    settings.SANDBOX_REQUIRE_APPSECRET_PROOF = False
    faults.reset_dice()
    yield
    faults.reset_dice()


@dataclass
class Sandbox:
    url: str  # what FACEBOOK_GRAPH_URL would be
    seeded: dict[str, services.SeededPerson]
    app_id: str
    app_secret: str

    def token(self, key: str = "ready", **kwargs) -> str:
        return services.sandbox_token_issue(person=self.seeded[key].person, **kwargs)

    def client(self, key: str = "ready", *, token: str | None = None, **kwargs) -> GraphClient:
        options = {
            "ad_account_id": self.seeded[key].act_id,
            "base_url": self.url,
            "version": "v25.0",
            "app_secret": self.app_secret,
            "timeout": (5.0, 30.0),
            "retry_policy": RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, max_throttle_wait=0.5),
        }
        options.update(kwargs)
        return GraphClient(token or self.token(key), **options)


@pytest.fixture
def sandbox(live_server, settings) -> Sandbox:
    return Sandbox(
        url=f"{live_server.url}/sandbox",
        seeded=services.sandbox_seed(),
        app_id=settings.FACEBOOK_APP_ID,
        app_secret=settings.FACEBOOK_APP_SECRET,
    )

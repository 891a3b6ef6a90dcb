"""Fixtures for the ad spend tests: the sandbox on the live server, a connected project, canned rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from integrations.facebook.client import GraphClient
from integrations.facebook.retry import RetryPolicy
from integrations.models import FacebookConnection, Project
from integrations.sandbox import faults, insights, services, synthetic_ads

READY_ACT = "act_200000000000101"
TODAY = date(2026, 3, 15)


@pytest.fixture(autouse=True)
def _fast_settings(settings) -> Iterator[None]:
    # Waiting costs nothing in tests: throttles, report polls and backoff are instant.
    settings.SANDBOX_REQUIRE_APPSECRET_PROOF = False
    settings.GRAPH_RETRY_BASE_DELAY = 0.001
    settings.GRAPH_UNKNOWN_THROTTLE_WAIT = 0.01
    settings.GRAPH_MAX_THROTTLE_WAIT = 1.0
    settings.ADMETRICS_REPORT_POLL_SECONDS = 0.001
    settings.ADMETRICS_REPORT_MAX_WAIT_SECONDS = 5.0
    faults.reset_dice()
    insights.report_runs_reset()
    synthetic_ads.today_set(TODAY)
    yield
    synthetic_ads.today_set(None)
    insights.report_runs_reset()
    insights.insights_provider_set(None)
    faults.reset_dice()


@dataclass
class Sandbox:
    url: str
    seeded: dict[str, services.SeededPerson]

    def token(self, key: str = "ready", **kwargs: Any) -> str:
        return services.sandbox_token_issue(person=self.seeded[key].person, **kwargs)

    def client(self, key: str = "ready", **kwargs: Any) -> GraphClient:
        options: dict[str, Any] = {
            "ad_account_id": self.seeded[key].act_id,
            "base_url": self.url,
            "version": "v25.0",
            "timeout": (5.0, 30.0),
            "retry_policy": RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01, max_throttle_wait=1.0),
        }
        options.update(kwargs)
        return GraphClient(self.token(key), **options)


@pytest.fixture
def sandbox(live_server, settings) -> Sandbox:
    return Sandbox(url=f"{live_server.url}/sandbox", seeded=services.sandbox_seed())


@pytest.fixture
def connection(db, project: Project, sandbox: Sandbox) -> FacebookConnection:
    """The project connected to the sandbox's `ready` ad account, with every scope."""
    return FacebookConnection.objects.create(
        project=project,
        ad_account_id=READY_ACT,
        ad_account_name="Acme Outdoor - Main",
        ad_account_currency="USD",
        status=FacebookConnection.Status.ACTIVE,
        access_token=sandbox.token("ready"),
        granted_scopes=["ads_management", "business_management", "ads_read"],
    )

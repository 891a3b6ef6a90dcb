"""The ad spend importer against canned Graph answers: paging, upserts, report runs, throttles, failures."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import responses
from django.utils import timezone
from responses import matchers

from integrations.admetrics import services
from integrations.admetrics.models import AdDailyMetric, AdInsightImport, AdSetAudience
from integrations.admetrics.throttle import InsightsThrottleGate
from integrations.facebook.client import GraphClient
from integrations.facebook.retry import RetryPolicy
from integrations.models import FacebookConnection
from syncs.models import AdAccountThrottle

GRAPH = "https://graph.facebook.com/v25.0"
ACT = "act_123"
DAY = date(2026, 3, 1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> GraphClient:
    policy = RetryPolicy(
        max_attempts=4, base_delay=1.0, max_throttle_wait=300.0, sleep=clock.sleep, clock=clock.clock, random=lambda: 0
    )
    gate = InsightsThrottleGate(max_wait=300.0, sleep=clock.sleep, clock=clock.clock)
    return GraphClient(
        "EAAtoken", ad_account_id=ACT, base_url="https://graph.facebook.com", retry_policy=policy, throttle_gate=gate
    )


@pytest.fixture
def connection(project) -> FacebookConnection:
    return FacebookConnection.objects.create(
        project=project,
        ad_account_id=ACT,
        ad_account_name="Main",
        ad_account_currency="EUR",
        status=FacebookConnection.Status.ACTIVE,
        access_token="EAAtoken",
        granted_scopes=["ads_management", "business_management", "ads_read"],
    )


def row(day: date, ad: str = "1", *, spend: Any = "12.34", impressions: str = "1000", clicks: str = "10") -> dict:
    return {
        "account_id": "123",
        "account_currency": "EUR",
        "campaign_id": "10",
        "campaign_name": "Spring",
        "adset_id": "20",
        "adset_name": "Retargeting",
        "ad_id": ad,
        "ad_name": f"Ad {ad}",
        "spend": spend,
        "impressions": impressions,
        "clicks": clicks,
        "reach": "800",
        "actions": [{"action_type": "link_click", "value": clicks}],
        "date_start": day.isoformat(),
        "date_stop": day.isoformat(),
    }


def page(rows: list[dict], after: str | None = None) -> dict:
    body: dict[str, Any] = {"data": rows}
    if after:
        body["paging"] = {"cursors": {"before": "x", "after": after}, "next": f"{GRAPH}/{ACT}/insights?after={after}"}
    return body


def ad_sets(*targeted: str) -> None:
    audiences = [{"id": audience_id, "name": f"Audience {audience_id}"} for audience_id in targeted]
    responses.get(
        f"{GRAPH}/{ACT}/adsets",
        json={"data": [{"id": "20", "name": "Retargeting", "targeting": {"custom_audiences": audiences}}]},
    )


def run_import(connection, client, since: date = DAY, until: date = DAY + timedelta(days=2)) -> AdInsightImport:
    record = services.insights_import_queue(
        connection=connection, kind=AdInsightImport.Kind.BACKFILL, since=since, until=until
    )
    return services.insights_import_execute(import_id=record.pk, client=client)


def three_days(**overrides: Any) -> list[dict]:
    return [row(DAY + timedelta(days=n), ad, **overrides) for n in range(3) for ad in ("1", "2")]


@responses.activate
def test_pages_are_followed_and_spend_is_stored_exactly(connection, client):
    ad_sets("238")
    rows = three_days(spend="0.10")
    rows[0]["spend"] = "1234567.89"
    responses.get(
        f"{GRAPH}/{ACT}/insights",
        json=page(rows[:4], after="c1"),
        match=[matchers.query_param_matcher({"level": "ad", "time_increment": "1"}, strict_match=False)],
    )
    responses.get(f"{GRAPH}/{ACT}/insights", json=page(rows[4:]))

    record = run_import(connection, client)

    assert record.status == AdInsightImport.Status.SUCCEEDED, record.error_message
    assert (record.method, record.rows_read, record.inserted, record.updated, record.unchanged) == ("paged", 6, 6, 0, 0)
    assert record.graph_calls == 3  # ad sets, two insights pages
    assert AdDailyMetric.objects.count() == 6
    first = AdDailyMetric.objects.get(date=DAY, ad_id="1")
    assert first.spend == Decimal("1234567.89") and first.currency == "EUR"
    total = sum(AdDailyMetric.objects.values_list("spend", flat=True))
    assert total == Decimal("1234567.89") + Decimal("0.10") * 5  # no float drift
    assert list(AdSetAudience.objects.values_list("adset_id", "audience_id")) == [("20", "238")]


@responses.activate
def test_a_rerun_changes_nothing_and_a_revised_day_is_updated_in_place(connection, client):
    ad_sets()
    responses.get(f"{GRAPH}/{ACT}/insights", json=page(three_days()))
    first = run_import(connection, client)
    pk_before = AdDailyMetric.objects.get(date=DAY, ad_id="2").pk

    responses.get(f"{GRAPH}/{ACT}/insights", json=page(three_days()))
    again = run_import(connection, client)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 6)

    revised = three_days()
    revised[1] = row(DAY, "2", spend="13.01", impressions="1100", clicks="11")
    responses.get(f"{GRAPH}/{ACT}/insights", json=page(revised))
    third = run_import(connection, client)

    assert (first.inserted, third.inserted, third.updated, third.unchanged) == (6, 0, 1, 5)
    metric = AdDailyMetric.objects.get(date=DAY, ad_id="2")
    assert (metric.pk, metric.spend, metric.impressions, metric.clicks) == (pk_before, Decimal("13.01"), 1100, 11)
    assert metric.actions == [{"action_type": "link_click", "value": "11"}]
    assert metric.last_import_id == third.pk
    assert AdDailyMetric.objects.count() == 6


@responses.activate
def test_a_long_range_goes_through_an_async_report_run(connection, client, settings, clock):
    settings.ADMETRICS_ASYNC_MIN_DAYS = 2
    settings.ADMETRICS_REPORT_POLL_SECONDS = 5.0
    settings.ADMETRICS_REPORT_MAX_WAIT_SECONDS = 60.0
    ad_sets()
    responses.post(f"{GRAPH}/{ACT}/insights", json={"report_run_id": "777"})
    for status, percent in (("Job Not Started", 0), ("Job Running", 60), ("Job Completed", 100)):
        responses.get(f"{GRAPH}/777", json={"id": "777", "async_status": status, "async_percent_completion": percent})
    responses.get(f"{GRAPH}/777/insights", json={**page(three_days()[:3]), "paging": {
        "cursors": {"after": "c1"}, "next": f"{GRAPH}/777/insights?after=c1"}})  # fmt: skip
    responses.get(f"{GRAPH}/777/insights", json=page(three_days()[3:]))

    record = run_import(connection, client)

    assert record.status == AdInsightImport.Status.SUCCEEDED, record.error_message
    assert (record.method, record.report_run_id, record.inserted) == ("report_run", "777", 6)
    body = json.loads(responses.calls[1].request.body)
    assert body["time_range"] == {"since": "2026-03-01", "until": "2026-03-03"} and body["level"] == "ad"
    assert clock.sleeps == [5.0, 10.0]  # the polls back off


@pytest.mark.parametrize("status", ["Job Failed", "Job Skipped"])
@responses.activate
def test_a_failed_report_run_is_reported_clearly(connection, client, settings, status):
    settings.ADMETRICS_ASYNC_MIN_DAYS = 2
    ad_sets()
    responses.post(f"{GRAPH}/{ACT}/insights", json={"report_run_id": "778"})
    responses.get(f"{GRAPH}/778", json={"id": "778", "async_status": status, "async_percent_completion": 30})

    record = run_import(connection, client)

    assert record.status == AdInsightImport.Status.FAILED
    assert record.error_kind == "report_run_failed"
    assert f"ended with '{status}' at 30%" in record.error_message
    assert "shorter ranges" in record.error_fix
    assert AdDailyMetric.objects.count() == 0


@responses.activate
def test_a_report_run_that_never_finishes_stops_at_the_wait_limit(connection, client, settings, clock):
    settings.ADMETRICS_ASYNC_MIN_DAYS = 2
    settings.ADMETRICS_REPORT_POLL_SECONDS = 10.0
    settings.ADMETRICS_REPORT_MAX_WAIT_SECONDS = 60.0
    ad_sets()
    responses.post(f"{GRAPH}/{ACT}/insights", json={"report_run_id": "779"})
    responses.get(f"{GRAPH}/779", json={"id": "779", "async_status": "Job Running", "async_percent_completion": 5})

    record = run_import(connection, client)

    assert (record.status, record.error_kind) == ("failed", "report_run_timed_out")
    assert sum(clock.sleeps) <= 60.0
    assert "still 'Job Running' at 5%" in record.error_message


@responses.activate
def test_throttling_is_waited_out_then_the_import_succeeds(connection, client, clock):
    ad_sets()
    usage = {"123": [{"type": "ads_insights", "call_count": 100, "estimated_time_to_regain_access": 2}]}
    throttle = {
        "error": {"message": "(#80004) There have been too many calls", "code": 80004, "type": "OAuthException"}
    }
    responses.get(
        f"{GRAPH}/{ACT}/insights", json=throttle, status=400, headers={"X-Business-Use-Case-Usage": json.dumps(usage)}
    )
    responses.get(f"{GRAPH}/{ACT}/insights", json=page(three_days()))

    record = run_import(connection, client)

    assert record.status == AdInsightImport.Status.SUCCEEDED, record.error_message
    assert record.inserted == 6 and record.graph_calls == 3
    assert 120.0 in clock.sleeps  # two minutes, as Meta announced
    # Other imports of the account wait too; its sync jobs (custom_audience bucket) do not.
    assert AdAccountThrottle.objects.filter(ad_account_id=f"{ACT}:ads_insights").exists()
    assert not AdAccountThrottle.objects.filter(ad_account_id=ACT).exists()


def test_a_throttle_the_sync_jobs_met_on_the_account_holds_the_import_too(connection, settings):
    settings.GRAPH_MAX_THROTTLE_WAIT = 60.0
    AdAccountThrottle.objects.create(ad_account_id=ACT, blocked_until=timezone.now() + timedelta(hours=1))
    with responses.RequestsMock() as mock:  # the gate refuses before any call
        record = run_import(connection, None)
        assert not mock.calls
    assert (record.status, record.error_kind) == ("failed", "rate_limited")
    assert "throttled for another" in record.error_message


@responses.activate
def test_a_throttle_longer_than_the_policy_accepts_fails_the_import_with_what_to_do(connection, client):
    ad_sets()
    usage = {"123": [{"type": "ads_insights", "call_count": 100, "estimated_time_to_regain_access": 30}]}
    throttle = {"error": {"message": "User request limit reached", "code": 17, "error_subcode": 2446079}}
    responses.get(
        f"{GRAPH}/{ACT}/insights", json=throttle, status=400, headers={"X-Business-Use-Case-Usage": json.dumps(usage)}
    )

    record = run_import(connection, client)

    assert (record.status, record.error_kind) == ("failed", "rate_limited")
    assert "throttling" in record.error_fix and "next daily import" in record.error_fix


def test_an_account_without_ads_read_gets_a_reconnect_message_and_no_call(connection, client):
    connection.granted_scopes = ["ads_management", "business_management"]
    connection.save()
    with responses.RequestsMock() as mock:  # any HTTP call would fail the test
        record = run_import(connection, client)
        assert not mock.calls
    assert (record.status, record.error_kind) == ("failed", "scope_missing")
    assert "ads_read" in record.error_message
    assert record.error_fix.startswith("Reconnect Facebook granting ads_read")


@responses.activate
def test_facebook_refusing_the_report_asks_for_ads_read_too(connection, client):
    ad_sets()
    denied = {"error": {"message": "(#200) Requires ads_read permission", "code": 200, "type": "OAuthException"}}
    responses.get(f"{GRAPH}/{ACT}/insights", json=denied, status=403)

    record = run_import(connection, client)

    assert (record.status, record.error_kind) == ("failed", "permission_missing")
    assert "code 200" in record.error_message
    assert record.error_fix.startswith("Reconnect Facebook granting ads_read")


@responses.activate
def test_an_unreadable_row_fails_the_import_and_keeps_what_was_written(connection, client):
    ad_sets()
    rows = three_days()
    rows[5]["spend"] = "twelve"
    responses.get(f"{GRAPH}/{ACT}/insights", json=page(rows))

    record = run_import(connection, client)

    assert (record.status, record.error_kind) == ("failed", "row_unreadable")
    assert "'twelve' is not a number" in record.error_message
    assert record.rows_read == 6


def test_a_second_delivery_of_the_task_does_not_run_the_import_again(connection, client):
    record = services.insights_import_queue(
        connection=connection, kind=AdInsightImport.Kind.DAILY, since=DAY, until=DAY
    )
    AdInsightImport.objects.filter(pk=record.pk).update(status=AdInsightImport.Status.SUCCEEDED)
    with responses.RequestsMock() as mock:
        again = services.insights_import_execute(import_id=record.pk, client=client)
        assert not mock.calls
    assert again.status == AdInsightImport.Status.SUCCEEDED


def test_the_daily_range_is_yesterday_and_the_trailing_window(settings):
    settings.ADMETRICS_TRAILING_DAYS = 28
    since, until = services.daily_range(today=date(2026, 3, 15))
    assert (since, until) == (date(2026, 2, 14), date(2026, 3, 14))  # 28 days before yesterday, and yesterday
    assert (until - since).days + 1 == 29


@responses.activate
def test_one_import_at_a_time_per_ad_account_and_a_dead_one_does_not_block(connection, client):
    running = services.insights_import_queue(
        connection=connection, kind=AdInsightImport.Kind.DAILY, since=DAY, until=DAY
    )
    AdInsightImport.objects.filter(pk=running.pk).update(status="running", started_at=timezone.now())
    skipped = run_import(connection, client)
    assert (skipped.status, skipped.error_kind) == ("skipped", "overlap")
    assert f"Import {running.pk} of this ad account was still running" in skipped.error_message

    AdInsightImport.objects.filter(pk=running.pk).update(started_at=timezone.now() - timedelta(hours=2))
    ad_sets()
    responses.get(f"{GRAPH}/{ACT}/insights", json=page(three_days()))
    assert run_import(connection, client).status == "succeeded"
    running.refresh_from_db()
    assert (running.status, running.error_kind) == ("failed", "interrupted")

"""The sandbox's insights, ad sets and report runs, through the real Graph client over HTTP."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from integrations.facebook.errors import InvalidRequest, RateLimited
from integrations.sandbox import insights, services, synthetic_ads

from .conftest import TODAY

FIELDS = ["campaign_id", "adset_id", "ad_id", "ad_name", "spend", "impressions", "clicks", "account_currency"]


def daily(client, since: date, until: date, **kwargs):
    return list(client.insights(fields=FIELDS, level="ad", time_range=(since, until), time_increment=1, **kwargs))


def test_daily_rows_follow_cursor_pages_and_are_the_same_every_time(sandbox):
    client = sandbox.client()
    since, until = TODAY - timedelta(days=6), TODAY - timedelta(days=1)
    paged = daily(client, since, until, limit=5)
    calls_paged = client.calls_made
    whole = daily(client, since, until, limit=500)

    assert paged == whole
    assert calls_paged > 3  # several pages were followed
    assert {row["date_start"] for row in paged} == {(since + timedelta(days=n)).isoformat() for n in range(6)}
    assert all(row["date_start"] == row["date_stop"] for row in paged)
    # Seven ads, one of which rests every third day.
    resting = sum(1 for n in range(6) if (since + timedelta(days=n)).toordinal() % 3 == 0)
    assert len(paged) == 6 * 7 - resting
    assert {row["account_currency"] for row in paged} == {"USD"}
    no_link = [row for row in paged if row["ad_name"] == "Brand video (no link)"]
    assert no_link and all(row["clicks"] == "0" for row in no_link)


def test_recent_days_are_revised_then_settle(sandbox):
    client = sandbox.client()
    day = TODAY - timedelta(days=1)
    old_day = TODAY - timedelta(days=10)
    first = {(r["date_start"], r["ad_id"]): r for r in daily(client, old_day, day)}
    synthetic_ads.today_set(TODAY + timedelta(days=1))
    second = {(r["date_start"], r["ad_id"]): r for r in daily(client, old_day, day)}

    recent = [key for key in first if key[0] == day.isoformat()]
    assert recent and all(Decimal(second[k]["spend"]) > Decimal(first[k]["spend"]) for k in recent)
    settled = [key for key in first if key[0] == old_day.isoformat()]
    assert settled and all(second[k] == first[k] for k in settled)


def test_campaign_level_rows_are_the_sums_of_the_ad_rows(sandbox):
    client = sandbox.client()
    ads = daily(client, TODAY - timedelta(days=3), TODAY - timedelta(days=3))
    campaigns = list(
        client.insights(
            fields=["campaign_id", "spend", "impressions"],
            level="campaign",
            time_range=(TODAY - timedelta(days=3), TODAY - timedelta(days=3)),
        )
    )
    for campaign in campaigns:
        mine = [row for row in ads if row["campaign_id"] == campaign["campaign_id"]]
        assert Decimal(campaign["spend"]) == sum(Decimal(row["spend"]) for row in mine)
        assert int(campaign["impressions"]) == sum(int(row["impressions"]) for row in mine)


def test_a_report_run_goes_through_running_to_completed_and_only_then_gives_rows(sandbox):
    client = sandbox.client()
    since, until = TODAY - timedelta(days=40), TODAY - timedelta(days=1)
    run_id = client.insights_report_start(fields=FIELDS, level="ad", time_range=(since, until))
    with pytest.raises(InvalidRequest, match="not completed"):
        list(client.insights_report_rows(run_id))

    statuses = [client.insights_report_status(run_id) for _ in range(3)]
    assert [(s.async_status, s.async_percent_completion) for s in statuses] == [
        ("Job Running", 40),
        ("Job Running", 80),
        ("Job Completed", 100),
    ]
    rows = list(client.insights_report_rows(run_id, limit=100))
    assert rows == daily(client, since, until, limit=500)


def test_a_failure_switch_makes_the_next_report_run_fail(sandbox):
    client = sandbox.client()
    insights.report_runs_fail_next(ad_account_id=sandbox.seeded["ready"].act_id, status="Job Failed")
    failing = client.insights_report_start(fields=FIELDS, level="ad", date_preset="last_7d")
    fine = client.insights_report_start(fields=FIELDS, level="ad", date_preset="last_7d")
    for _ in range(3):
        last_failing, last_fine = client.insights_report_status(failing), client.insights_report_status(fine)
    assert last_failing.is_failed and last_failing.async_status == "Job Failed"
    assert last_fine.is_complete
    with pytest.raises(InvalidRequest):
        list(client.insights_report_rows(failing))


def test_insights_calls_are_throttled_in_the_ads_insights_bucket(sandbox):
    services.sandbox_fault_switch_set(
        ad_account_id=sandbox.seeded["ready"].act_id, throttle_share=1.0, throttle_code=80004, seed=1
    )
    client = sandbox.client()
    with pytest.raises(RateLimited) as caught:
        daily(client, TODAY - timedelta(days=2), TODAY - timedelta(days=1))
    assert caught.value.code == 80004
    response = client.session.get(
        f"{sandbox.url}/v25.0/{sandbox.seeded['ready'].act_id}/insights",
        params={"access_token": client.access_token, "fields": "spend"},
        timeout=5,
    )
    assert '"type": "ads_insights"' in response.headers["X-Business-Use-Case-Usage"]


def test_unknown_fields_and_ranges_beyond_37_months_are_refused_like_meta(sandbox):
    client = sandbox.client()
    with pytest.raises(InvalidRequest, match="not valid for fields"):
        list(client.insights(fields=["spend", "bogus"], level="ad", date_preset="yesterday"))
    with pytest.raises(InvalidRequest, match="37 months") as caught:
        daily(client, TODAY - timedelta(days=1200), TODAY - timedelta(days=1))
    assert caught.value.code == 3018


def test_ad_sets_target_the_audiences_the_sandbox_holds(sandbox):
    account = sandbox.seeded["ready"].ad_account
    client = sandbox.client()
    before = list(client.ad_sets())
    assert len(before) == 4 and not any("custom_audiences" in row.get("targeting", {}) for row in before)

    first = services.audience_create(
        ad_account=account,
        name="Churn risk",
        description="",
        subtype="CUSTOM",
        customer_file_source="USER_PROVIDED_ONLY",
    )
    after = {row["name"]: row for row in client.ad_sets(limit=2)}
    assert after["Cohort retargeting"]["targeting"] == {"custom_audiences": [{"id": first.fb_id, "name": "Churn risk"}]}
    assert "custom_audiences" not in after["Lapsed buyers"]["targeting"]  # its slot needs a second audience
    assert [row["name"] for row in client.campaigns()] == ["Spring sale", "Always on"]

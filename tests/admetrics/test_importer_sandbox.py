"""The ad spend importer against the sandbox over HTTP (settings.FACEBOOK_GRAPH_URL is the live server)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Sum

from cohorts.models import Cohort
from integrations.admetrics import selectors, services
from integrations.admetrics.models import AdDailyMetric, AdInsightImport
from integrations.sandbox import insights, synthetic_ads
from integrations.sandbox import services as sandbox_services
from syncs.models import AdAccountThrottle, SyncJob

from .conftest import TODAY

Kind = AdInsightImport.Kind


def import_range(connection, since: date, until: date, kind: str = Kind.BACKFILL) -> AdInsightImport:
    record = services.insights_import_queue(connection=connection, kind=kind, since=since, until=until)
    return services.insights_import_execute(import_id=record.pk)


def expected(account, since: date, until: date, today: date) -> dict[tuple, synthetic_ads.DayFigures]:
    return {(row.day, row.ad.ad_id): row.figures for row in synthetic_ads.daily_rows(account, since, until, today)}


def test_daily_import_pages_through_the_window_then_updates_revised_days_in_place(connection, sandbox, settings):
    settings.ADMETRICS_PAGE_SIZE = 40
    account = sandbox.seeded["ready"].ad_account
    since, until = services.daily_range(today=TODAY)
    first = import_range(connection, since, until, Kind.DAILY)

    wanted = expected(account, since, until, TODAY)
    assert first.status == "succeeded", first.error_message
    assert (first.method, first.rows_read, first.inserted) == ("paged", len(wanted), len(wanted))
    assert first.graph_calls >= 1 + len(wanted) // 40  # ad sets, then every page
    spend = AdDailyMetric.objects.aggregate(total=Sum("spend"))["total"]
    assert spend == sum(Decimal(f.spend_cents) / 100 for f in wanted.values())
    yesterday_row = AdDailyMetric.objects.filter(date=until).order_by("ad_id").first()

    # A day later Meta has revised the last days; the window moved by one day.
    tomorrow = TODAY + timedelta(days=1)
    synthetic_ads.today_set(tomorrow)
    since2, until2 = services.daily_range(today=tomorrow)
    second = import_range(connection, since2, until2, Kind.DAILY)

    now_wanted = expected(account, since2, until2, tomorrow)
    revised = {key for key, figures in now_wanted.items() if key in wanted and wanted[key] != figures}
    assert revised and {day for day, _ in revised} == {TODAY - timedelta(days=1), TODAY - timedelta(days=2)}
    new_day = {key for key in now_wanted if key not in wanted}
    assert (second.inserted, second.updated) == (len(new_day), len(revised))
    assert second.unchanged == len(now_wanted) - len(new_day) - len(revised)
    yesterday_row.refresh_from_db()  # same row, new figures
    assert yesterday_row.spend == Decimal(now_wanted[(until, yesterday_row.ad_id)].spend_cents) / 100
    assert yesterday_row.last_import_id == second.pk

    third = import_range(connection, since2, until2, Kind.DAILY)
    assert (third.inserted, third.updated, third.unchanged) == (0, 0, len(now_wanted))


def test_a_long_backfill_goes_through_a_report_run(connection, sandbox):
    since, until = TODAY - timedelta(days=45), TODAY - timedelta(days=1)
    record = import_range(connection, since, until)

    assert record.status == "succeeded", record.error_message
    assert record.method == "report_run" and record.report_run_id
    assert record.inserted == len(expected(sandbox.seeded["ready"].ad_account, since, until, TODAY))


def test_a_failed_report_run_is_on_the_import_record(connection, sandbox):
    insights.report_runs_fail_next(ad_account_id=connection.ad_account_id, status="Job Failed")
    record = import_range(connection, TODAY - timedelta(days=60), TODAY - timedelta(days=1))

    assert (record.status, record.error_kind) == ("failed", "report_run_failed")
    assert "ended with 'Job Failed'" in record.error_message and record.report_run_id in record.error_message
    assert AdDailyMetric.objects.count() == 0
    retry = import_range(connection, TODAY - timedelta(days=60), TODAY - timedelta(days=1))
    assert retry.status == "succeeded"


def test_throttled_insights_calls_are_retried_then_the_import_succeeds(connection, sandbox, settings):
    settings.ADMETRICS_PAGE_SIZE = 50
    sandbox_services.sandbox_fault_switch_set(
        ad_account_id=connection.ad_account_id, throttle_share=0.4, throttle_code=80004, seed=3
    )
    since, until = services.daily_range(today=TODAY)
    record = import_range(connection, since, until, Kind.DAILY)

    assert record.status == "succeeded", record.error_message
    pages = -(-record.rows_read // 50)
    assert record.graph_calls > 1 + pages  # some calls were throttled and sent again
    assert AdAccountThrottle.objects.filter(ad_account_id=f"{connection.ad_account_id}:ads_insights").exists()


def test_the_cohort_synced_to_a_targeted_audience_shows_beside_its_ad_set(connection, sandbox, project):
    audience = sandbox_services.audience_create(
        ad_account=sandbox.seeded["ready"].ad_account,
        name="Churn risk (synced)",
        description="",
        subtype="CUSTOM",
        customer_file_source="USER_PROVIDED_ONLY",
    )
    cohort = Cohort.objects.create(project=project, amplitude_cohort_id="c1", name="Churn risk", size=10)
    SyncJob.objects.create(
        cohort=cohort, connection=connection, audience_name=audience.name, audience_id=audience.fb_id
    )
    record = import_range(connection, TODAY - timedelta(days=3), TODAY - timedelta(days=1))
    assert record.ad_sets_read == 4

    report = selectors.metrics_report(
        filters=selectors.ReportFilters(project_ids=[project.pk], since=TODAY - timedelta(days=3), until=TODAY),
        group_by="adset",
    )
    cohorts = {line.adset_name: line.cohorts for line in report.lines}
    assert cohorts == {
        "Cohort retargeting": ["Churn risk"],
        "Prospecting - broad": [],
        "Lookalike 1%": [],
        "Lapsed buyers": [],
    }

"""The ad spend report: figures from sums (checked by hand), zero denominators, currencies, scoping, CSV, chart."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from cohorts.models import Cohort
from integrations.admetrics import charts, selectors
from integrations.admetrics.models import AdDailyMetric, AdSetAudience
from integrations.models import FacebookConnection
from syncs.models import SyncJob

D1, D2 = date(2026, 3, 1), date(2026, 3, 2)
REPORT = reverse("admin:admetrics_addailymetric_changelist")
CSV = reverse("admin:admetrics_addailymetric_export_csv")
RANGE = {"since": "2026-03-01", "until": "2026-03-02"}


def metric(project, act, day, campaign, adset, ad, spend, impressions, clicks, currency="USD", **names):
    return AdDailyMetric.objects.create(
        project=project,
        ad_account_id=act,
        date=day,
        campaign_id=campaign,
        campaign_name=names.get("campaign_name", f"Campaign {campaign}"),
        adset_id=adset,
        adset_name=names.get("adset_name", f"Ad set {adset}"),
        ad_id=ad,
        ad_name=names.get("ad_name", f"Ad {ad}"),
        currency=currency,
        spend=Decimal(spend),
        impressions=impressions,
        clicks=clicks,
    )


@pytest.fixture
def figures(project, other_project):
    """Two ad accounts of `project` (USD and EUR) and one of `other_project`."""
    for act, currency in (("act_1", "USD"), ("act_2", "EUR")):
        FacebookConnection.objects.create(
            project=project, ad_account_id=act, ad_account_name=f"Account {act}", ad_account_currency=currency
        )
    metric(project, "act_1", D1, "11", "21", "31", "10.00", 1000, 20, campaign_name="=HYPERLINK(evil)")
    metric(project, "act_1", D1, "11", "21", "32", "5.50", 500, 0, campaign_name="=HYPERLINK(evil)")  # no clicks
    metric(project, "act_1", D2, "11", "21", "31", "20.00", 3000, 30, campaign_name="=HYPERLINK(evil)")
    metric(project, "act_1", D2, "12", "22", "33", "0.00", 0, 0)  # nothing delivered
    metric(project, "act_2", D1, "13", "23", "34", "7.25", 250, 5, currency="EUR")
    metric(other_project, "act_9", D1, "19", "29", "39", "999.00", 10, 1)
    cohort = Cohort.objects.create(project=project, amplitude_cohort_id="7", name="Churn risk", size=10)
    connection = FacebookConnection.objects.get(ad_account_id="act_1")
    SyncJob.objects.create(cohort=cohort, connection=connection, audience_name="Churn", audience_id="238")
    AdSetAudience.objects.create(project=project, ad_account_id="act_1", adset_id="21", audience_id="238")


def report(project, group_by, **filters):
    return selectors.metrics_report(
        filters=selectors.ReportFilters(project_ids=[project.pk], since=D1, until=D2, **filters), group_by=group_by
    )


def test_by_day_every_ratio_comes_from_the_sums_per_currency(figures, project):
    by_day = report(project, "day")
    lines = {(line.day, line.currency): line for line in by_day.lines}
    assert set(lines) == {(D1, "USD"), (D1, "EUR"), (D2, "USD")}

    usd_d1 = lines[(D1, "USD")]  # 10.00 + 5.50 spent on 1,000 + 500 impressions and 20 + 0 clicks
    assert (usd_d1.spend, usd_d1.impressions, usd_d1.clicks) == (Decimal("15.50"), 1500, 20)
    assert usd_d1.cpm == Decimal("10.33")  # 15.50 / 1500 x 1000 = 10.333
    assert usd_d1.cpc == Decimal("0.78")  # 15.50 / 20 = 0.775
    assert usd_d1.ctr == Decimal("1.33")  # 20 / 1500 x 100 = 1.333

    eur = lines[(D1, "EUR")]  # never added to the dollars
    assert (eur.spend, eur.cpm, eur.cpc, eur.ctr) == (
        Decimal("7.25"),
        Decimal("29.00"),
        Decimal("1.45"),
        Decimal("2.00"),
    )

    totals = {total.currency: total for total in by_day.totals}
    usd = totals["USD"]  # 35.50 on 4,500 impressions and 50 clicks
    assert (usd.spend, usd.impressions, usd.clicks) == (Decimal("35.50"), 4500, 50)
    assert (usd.cpm, usd.cpc, usd.ctr) == (Decimal("7.89"), Decimal("0.71"), Decimal("1.11"))
    # The average of the daily CPMs would be (10.33 + 6.67) / 2 = 8.50: not what the report shows.
    assert usd.cpm != (usd_d1.cpm + lines[(D2, "USD")].cpm) / 2
    assert by_day.currencies == ["EUR", "USD"]


def test_by_ad_zero_denominators_have_no_ratio(figures, project):
    lines = {line.ad_id: line for line in report(project, "ad", currency="USD").lines}
    assert set(lines) == {"31", "32", "33"}
    no_clicks = lines["32"]
    assert (no_clicks.cpm, no_clicks.cpc, no_clicks.ctr) == (Decimal("11.00"), None, Decimal("0.00"))
    nothing = lines["33"]
    assert (nothing.spend, nothing.cpm, nothing.cpc, nothing.ctr) == (Decimal("0"), None, None, None)
    assert lines["31"].cohorts == ["Churn risk"] and lines["33"].cohorts == []


def test_by_campaign_and_ad_set_sum_their_days(figures, project):
    campaigns = {line.campaign_id: line for line in report(project, "campaign").lines}
    assert (campaigns["11"].spend, campaigns["11"].impressions, campaigns["11"].clicks) == (Decimal("35.50"), 4500, 50)
    assert campaigns["11"].campaign_name == "=HYPERLINK(evil)"
    ad_sets = {line.adset_id: line for line in report(project, "adset", ad_account_id="act_1").lines}
    assert set(ad_sets) == {"21", "22"}
    assert ad_sets["21"].cohorts == ["Churn risk"]
    assert ad_sets["21"].cpc == Decimal("0.71")  # 35.50 / 50


def test_lines_are_bounded_and_the_totals_still_cover_everything(figures, project):
    capped = selectors.metrics_report(
        filters=selectors.ReportFilters(project_ids=[project.pk], since=D1, until=D2), group_by="ad", max_lines=2
    )
    assert len(capped.lines) == 2 and capped.truncated
    assert [line.ad_id for line in capped.lines] == ["31", "34"]  # most spend first (30.00 USD, 7.25 EUR)
    assert {t.currency: t.spend for t in capped.totals} == {"USD": Decimal("35.50"), "EUR": Decimal("7.25")}


def test_the_report_page_shows_the_figures_of_the_persons_projects_only(figures, project, make_member, client):
    client.force_login(make_member(project, "viewer"))
    page = client.get(REPORT, {**RANGE, "group_by": "ad"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "999.00" not in html  # the other project's spend
    assert "Churn risk" in html
    assert '<td class="num">11.00</td>' in html and '<td class="num">-</td>' in html
    assert "These ad accounts spend in EUR, USD" in html
    assert page.context["chart"].currency == "EUR"  # the first currency, unless one is chosen


def test_the_chart_has_a_bar_per_day_with_spend_and_a_cpm_line(figures, project, make_member, client):
    client.force_login(make_member(project, "viewer"))
    page = client.get(REPORT, {**RANGE, "currency": "usd"})
    chart = page.context["chart"]
    assert chart.currency == "USD"
    assert [bar.label.split(":")[0] for bar in chart.bars] == ["2026-03-01", "2026-03-02"]
    assert "15.50 USD spent" in chart.bars[0].label and "10.33 CPM" in chart.bars[0].label
    assert chart.bars[0].height < chart.bars[1].height  # 15.50 then 20.00
    assert len(chart.cpm_points) == 2
    html = page.content.decode()
    assert html.count('class="spend"') == 2 and "<polyline" in html and "cdn" not in html.lower()


def test_a_day_without_impressions_breaks_the_cpm_line():
    points = [
        selectors.DayPoint(D1, Decimal("1"), 100, 1),
        selectors.DayPoint(D2, Decimal("0"), 0, 0),
        selectors.DayPoint(date(2026, 3, 3), Decimal("2"), 100, 1),
    ]
    chart = charts.spend_chart(points=points, currency="USD", since=D1, until=date(2026, 3, 3))
    assert len(chart.bars) == 3 and len(chart.cpm_lines) == 2


def test_csv_export_is_the_same_table_and_formula_safe(figures, project, make_member, client):
    client.force_login(make_member(project, "viewer"))
    response = client.get(CSV, {**RANGE, "group_by": "campaign"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header, *body = rows
    assert header == ["Ad account", "Campaign id", "Campaign", "Currency", "Spend", "Impressions", "Clicks", "CPM",
                      "CPC", "CTR %"]  # fmt: skip
    lines = {row[1]: row for row in body if row[0] != "Total"}
    assert lines["11"] == ["act_1", "11", "'=HYPERLINK(evil)", "USD", "35.50", "4500", "50", "7.89", "0.71", "1.11"]
    assert lines["12"] == ["act_1", "12", "Campaign 12", "USD", "0.00", "0", "0", "", "", ""]  # no denominators
    assert lines["13"][3:] == ["EUR", "7.25", "250", "5", "29.00", "1.45", "2.00"]
    totals = [row for row in body if row[0] == "Total"]
    assert totals == [
        ["Total", "", "", "EUR", "7.25", "250", "5", "29.00", "1.45", "2.00"],
        ["Total", "", "", "USD", "35.50", "4500", "50", "7.89", "0.71", "1.11"],
    ]
    assert "999" not in b"".join(client.get(CSV, RANGE).streaming_content).decode()


def test_filters_outside_the_persons_projects_are_refused(figures, project, other_project, make_member, client):
    client.force_login(make_member(project, "viewer"))
    page = client.get(REPORT, {**RANGE, "project": other_project.pk})
    assert page.status_code == 200 and page.context["report"] is None and "project" in page.context["form"].errors
    assert client.get(CSV, {**RANGE, "ad_account": "act_9"}).status_code == 400


def test_people_without_a_project_cannot_open_the_report(figures, client, django_user_model):
    outsider = django_user_model.objects.create_user("outsider", password="pw", is_staff=True)
    client.force_login(outsider)
    assert client.get(REPORT).status_code == 403
    assert client.get(CSV).status_code == 403

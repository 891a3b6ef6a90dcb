"""Reads for the ad spend report: sums per day, campaign, ad set or ad, and the ratios built on them.

Every ratio is computed from sums the database adds up (CPM = sum(spend) / sum(impressions)
x 1000, CPC = sum(spend) / sum(clicks), CTR = sum(clicks) / sum(impressions) x 100), never
as an average of per-row ratios, and is None when its denominator is zero. Money is
never added across currencies: every line and every total belongs to one currency.
Queries are bounded: at most `max_lines` lines, one line per day for the chart.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.db import models
from django.db.models import Max, QuerySet, Sum

from integrations.admetrics.models import AdDailyMetric, AdInsightImport, AdSetAudience
from integrations.models import FacebookConnection
from syncs.models import SyncJob

CENTS = Decimal("0.01")
REPORT_MAX_LINES = 500


class GroupBy(models.TextChoices):
    DAY = "day", "Day"
    CAMPAIGN = "campaign", "Campaign"
    ADSET = "adset", "Ad set"
    AD = "ad", "Ad"


# What a line is keyed by (besides its currency), and which names it shows.
GROUP_FIELDS = {
    GroupBy.DAY: ("date",),
    GroupBy.CAMPAIGN: ("project_id", "ad_account_id", "campaign_id"),
    GroupBy.ADSET: ("project_id", "ad_account_id", "campaign_id", "adset_id"),
    GroupBy.AD: ("project_id", "ad_account_id", "campaign_id", "adset_id", "ad_id"),
}
NAME_FIELDS = {
    GroupBy.DAY: (),
    GroupBy.CAMPAIGN: ("campaign_name",),
    GroupBy.ADSET: ("campaign_name", "adset_name"),
    GroupBy.AD: ("campaign_name", "adset_name", "ad_name"),
}


# --- Ratios ------------------------------------------------------------------------------------------


def _rounded(value: Decimal) -> Decimal:
    return value.quantize(CENTS, rounding=ROUND_HALF_UP)


def cost_per_mille(spend: Decimal, impressions: int) -> Decimal | None:
    return _rounded(spend * 1000 / impressions) if impressions else None


def cost_per_click(spend: Decimal, clicks: int) -> Decimal | None:
    return _rounded(spend / clicks) if clicks else None


def click_through_rate(clicks: int, impressions: int) -> Decimal | None:
    return _rounded(Decimal(clicks) * 100 / impressions) if impressions else None


@dataclass
class Sums:
    currency: str
    spend: Decimal = Decimal(0)
    impressions: int = 0
    clicks: int = 0

    @property
    def spend_shown(self) -> Decimal:
        return _rounded(self.spend)

    @property
    def cpm(self) -> Decimal | None:
        return cost_per_mille(self.spend, self.impressions)

    @property
    def cpc(self) -> Decimal | None:
        return cost_per_click(self.spend, self.clicks)

    @property
    def ctr(self) -> Decimal | None:
        return click_through_rate(self.clicks, self.impressions)


@dataclass
class ReportLine(Sums):
    day: date | None = None
    project_id: int | None = None
    ad_account_id: str = ""
    ad_account_name: str = ""
    campaign_id: str = ""
    campaign_name: str = ""
    adset_id: str = ""
    adset_name: str = ""
    ad_id: str = ""
    ad_name: str = ""
    cohorts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReportFilters:
    project_ids: list[int] | None  # the projects the person may see; None: every project
    since: date
    until: date
    project_id: int | None = None
    ad_account_id: str = ""
    currency: str = ""


@dataclass
class Report:
    group_by: str
    lines: list[ReportLine]
    totals: list[Sums]  # one per currency
    truncated: bool

    @property
    def currencies(self) -> list[str]:
        return [total.currency for total in self.totals]


# --- Queries ---------------------------------------------------------------------------------------------


def metrics_in_scope(*, filters: ReportFilters) -> QuerySet[AdDailyMetric]:
    rows = AdDailyMetric.objects.filter(date__gte=filters.since, date__lte=filters.until)
    if filters.project_ids is not None:
        rows = rows.filter(project_id__in=filters.project_ids)
    if filters.project_id is not None:
        rows = rows.filter(project_id=filters.project_id)
    if filters.ad_account_id:
        rows = rows.filter(ad_account_id=filters.ad_account_id)
    if filters.currency:
        rows = rows.filter(currency=filters.currency)
    return rows


def _sums(query: QuerySet) -> QuerySet:
    return query.annotate(spend_sum=Sum("spend"), impressions_sum=Sum("impressions"), clicks_sum=Sum("clicks"))


def _sums_of(row: dict) -> dict:
    return {
        "currency": row["currency"],
        "spend": Decimal(row["spend_sum"] or 0),
        "impressions": int(row["impressions_sum"] or 0),
        "clicks": int(row["clicks_sum"] or 0),
    }


def metrics_report(*, filters: ReportFilters, group_by: str, max_lines: int = REPORT_MAX_LINES) -> Report:
    group_by = GroupBy(group_by)
    keys = GROUP_FIELDS[group_by]
    # A name can change over time: show the greatest (the ids are what lines are keyed by).
    names = {f"shown_{name}": Max(name) for name in NAME_FIELDS[group_by]}
    scoped = metrics_in_scope(filters=filters)
    grouped = _sums(scoped.values(*keys, "currency")).annotate(**names)
    if group_by == GroupBy.DAY:
        grouped = grouped.order_by("date", "currency")
    else:
        grouped = grouped.order_by("-spend_sum", *keys, "currency")
    rows = list(grouped[: max_lines + 1])
    lines = [_line(row, keys) for row in rows[:max_lines]]
    if group_by != GroupBy.DAY:
        _account_names_attach(lines)
    if group_by in (GroupBy.ADSET, GroupBy.AD):
        _cohorts_attach(lines)
    totals = [Sums(**_sums_of(row)) for row in _sums(scoped.values("currency")).order_by("currency")]
    return Report(group_by=group_by, lines=lines, totals=totals, truncated=len(rows) > max_lines)


def _line(row: dict, keys: tuple[str, ...]) -> ReportLine:
    line = ReportLine(**_sums_of(row))
    line.day = row.get("date")
    for name in keys:
        if name != "date":
            setattr(line, name, row[name])
    for name in NAME_FIELDS[GroupBy.AD]:
        if f"shown_{name}" in row:
            setattr(line, name, row[f"shown_{name}"] or "")
    return line


def adset_cohorts(*, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], list[str]]:
    """(project id, ad set id) -> names of this tool's cohorts whose audience the ad set targets."""
    if not pairs:
        return {}
    project_ids = {project_id for project_id, _ in pairs}
    targeted = AdSetAudience.objects.filter(
        project_id__in=project_ids, adset_id__in={adset_id for _, adset_id in pairs}
    ).values_list("project_id", "adset_id", "audience_id")
    audiences_of: dict[tuple[int, str], set[str]] = defaultdict(set)
    for project_id, adset_id, audience_id in targeted:
        if (project_id, adset_id) in pairs:
            audiences_of[(project_id, adset_id)].add(audience_id)
    audience_ids = set().union(*audiences_of.values()) if audiences_of else set()
    jobs = SyncJob.objects.filter(audience_id__in=audience_ids, connection__project_id__in=project_ids).values_list(
        "connection__project_id", "audience_id", "cohort__name"
    )
    cohorts_of: dict[tuple[int, str], set[str]] = defaultdict(set)
    for project_id, audience_id, cohort_name in jobs:
        cohorts_of[(project_id, audience_id)].add(cohort_name)
    return {
        pair: sorted({name for audience in audiences for name in cohorts_of.get((pair[0], audience), ())})
        for pair, audiences in audiences_of.items()
    }


def _account_names_attach(lines: list[ReportLine]) -> None:
    accounts = FacebookConnection.objects.filter(
        project_id__in={line.project_id for line in lines}, ad_account_id__in={line.ad_account_id for line in lines}
    ).values_list("project_id", "ad_account_id", "ad_account_name")
    names = {(project_id, act): name for project_id, act, name in accounts}
    for line in lines:
        line.ad_account_name = names.get((line.project_id, line.ad_account_id), "")


def _cohorts_attach(lines: list[ReportLine]) -> None:
    found = adset_cohorts(pairs={(line.project_id, line.adset_id) for line in lines if line.project_id})
    for line in lines:
        line.cohorts = found.get((line.project_id, line.adset_id), [])


@dataclass(frozen=True)
class DayPoint:
    day: date
    spend: Decimal
    impressions: int
    clicks: int

    @property
    def cpm(self) -> Decimal | None:
        return cost_per_mille(self.spend, self.impressions)


def daily_series(*, filters: ReportFilters, currency: str) -> list[DayPoint]:
    """Spend, impressions and clicks per day in one currency (at most one row per day of the range)."""
    rows = _sums(metrics_in_scope(filters=filters).filter(currency=currency).values("date")).order_by("date")
    return [
        DayPoint(
            day=row["date"],
            spend=Decimal(row["spend_sum"] or 0),
            impressions=int(row["impressions_sum"] or 0),
            clicks=int(row["clicks_sum"] or 0),
        )
        for row in rows
    ]


def ad_account_choices(*, project_ids: list[int] | None) -> list[tuple[str, str]]:
    """Connected ad accounts the person may see, for the report's filter."""
    connections = FacebookConnection.objects.exclude(ad_account_id="").select_related("project")
    if project_ids is not None:
        connections = connections.filter(project_id__in=project_ids)
    seen: dict[str, str] = {}
    for connection in connections.order_by("project__name", "ad_account_name")[:500]:
        label = f"{connection.project.name}: {connection.ad_account_name or connection.ad_account_id}"
        seen.setdefault(connection.ad_account_id, label)
    return list(seen.items())


def latest_imports(*, project_ids: list[int] | None, limit: int = 10) -> list[AdInsightImport]:
    imports = AdInsightImport.objects.select_related("project").order_by("-created_at", "-id")
    if project_ids is not None:
        imports = imports.filter(project_id__in=project_ids)
    return list(imports[:limit])

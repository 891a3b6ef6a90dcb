"""Deterministic campaigns, ad sets, ads and their daily delivery, for every sandbox ad account.

Every ad account gets the same shape (two campaigns, four ad sets, seven ads); ids are
derived from the account's digits, so two accounts never share an id. Daily figures
are a function of (account, ad, day) only, then revised by the day's age: Meta keeps
revising the last few days (late conversions, invalid-click clean-up), so a day's
figures grow over its first `REVISION_DAYS` days and then stay put. "Today" is the
ad account's own date (its time zone), or the date a test pins with `today_set`.

Shapes a report must cope with, on purpose:
- "Brand video (no link)" never gets a click (CPC has no denominator);
- "Reminder" delivers only two days out of three (Meta sends no row for a day
  without impressions);
- the ad sets with an `audience_slot` target the ad account's custom audiences held
  by the sandbox (the first live one, the second live one), when there are such.
"""

from __future__ import annotations

import hashlib
import threading
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from integrations.sandbox.models import SandboxAdAccount, SandboxAudience

# Share (percent) of a day's final figures reported at each age in days; older days are final.
REVISION_PERCENT = {0: 55, 1: 94, 2: 97}
REVISION_DAYS = len(REVISION_PERCENT)


@dataclass(frozen=True)
class AdSpec:
    name: str
    base_impressions: int  # a typical day
    cpm_cents: int  # cost per 1,000 impressions, in cents of the account's currency
    ctr_basis_points: int  # clicks per 10,000 impressions
    every_third_day_off: bool = False


@dataclass(frozen=True)
class AdSetSpec:
    name: str
    ads: tuple[AdSpec, ...]
    audience_slot: int | None = None  # targets the account's n-th live custom audience


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    objective: str
    ad_sets: tuple[AdSetSpec, ...]


CAMPAIGNS = (
    CampaignSpec(
        "Spring sale",
        "OUTCOME_SALES",
        (
            AdSetSpec(
                "Prospecting - broad",
                (AdSpec("Video 15s", 4200, 610, 130), AdSpec("Carousel", 2600, 720, 180)),
            ),
            AdSetSpec(
                "Cohort retargeting",
                (AdSpec("Static image", 1300, 950, 310), AdSpec("Brand video (no link)", 900, 480, 0)),
                audience_slot=0,
            ),
        ),
    ),
    CampaignSpec(
        "Always on",
        "OUTCOME_TRAFFIC",
        (
            AdSetSpec("Lookalike 1%", (AdSpec("Collection", 3100, 540, 95), AdSpec("Story", 2200, 430, 70))),
            AdSetSpec("Lapsed buyers", (AdSpec("Reminder", 700, 1100, 260, every_third_day_off=True),), 1),
        ),
    ),
)


@dataclass(frozen=True)
class Ad:
    account_id: str
    campaign_id: str
    campaign_name: str
    adset_id: str
    adset_name: str
    ad_id: str
    ad_name: str
    spec: AdSpec


def _id_base(account: SandboxAdAccount) -> str:
    return "120" + account.account_id[-6:].rjust(6, "0")


def campaign_id(account: SandboxAdAccount, c: int) -> str:
    return f"{_id_base(account)}1{c:02d}"


def adset_id(account: SandboxAdAccount, c: int, s: int) -> str:
    return f"{_id_base(account)}2{c:02d}{s:02d}"


def ad_id(account: SandboxAdAccount, c: int, s: int, a: int) -> str:
    return f"{_id_base(account)}3{c:02d}{s:02d}{a:02d}"


def ads_of(account: SandboxAdAccount) -> list[Ad]:
    ads = []
    for c, campaign in enumerate(CAMPAIGNS):
        for s, ad_set in enumerate(campaign.ad_sets):
            for a, spec in enumerate(ad_set.ads):
                ads.append(
                    Ad(
                        account_id=account.account_id,
                        campaign_id=campaign_id(account, c),
                        campaign_name=campaign.name,
                        adset_id=adset_id(account, c, s),
                        adset_name=ad_set.name,
                        ad_id=ad_id(account, c, s, a),
                        ad_name=spec.name,
                        spec=spec,
                    )
                )
    return ads


# --- Graph objects: campaigns, ad sets (with their targeting), ads -------------------------------


def campaigns_json(account: SandboxAdAccount) -> list[dict[str, Any]]:
    return [
        {
            "id": campaign_id(account, c),
            "name": campaign.name,
            "objective": campaign.objective,
            "status": "ACTIVE",
            "effective_status": "ACTIVE",
            "account_id": account.account_id,
        }
        for c, campaign in enumerate(CAMPAIGNS)
    ]


def adsets_json(account: SandboxAdAccount) -> list[dict[str, Any]]:
    audiences = list(SandboxAudience.objects.filter(ad_account=account, deleted_at__isnull=True).order_by("pk")[:10])
    rows = []
    for c, campaign in enumerate(CAMPAIGNS):
        for s, ad_set in enumerate(campaign.ad_sets):
            targeting: dict[str, Any] = {"geo_locations": {"countries": ["US"]}, "age_min": 18, "age_max": 65}
            slot = ad_set.audience_slot
            if slot is not None and slot < len(audiences):
                audience = audiences[slot]
                # Meta leaves custom_audiences out of targeting when the ad set has none.
                targeting["custom_audiences"] = [{"id": audience.fb_id, "name": audience.name}]
            rows.append(
                {
                    "id": adset_id(account, c, s),
                    "name": ad_set.name,
                    "campaign_id": campaign_id(account, c),
                    "status": "ACTIVE",
                    "effective_status": "ACTIVE",
                    "account_id": account.account_id,
                    "targeting": targeting,
                }
            )
    return rows


def ads_json(account: SandboxAdAccount) -> list[dict[str, Any]]:
    return [
        {
            "id": ad.ad_id,
            "name": ad.ad_name,
            "adset_id": ad.adset_id,
            "campaign_id": ad.campaign_id,
            "status": "ACTIVE",
            "effective_status": "ACTIVE",
            "account_id": account.account_id,
        }
        for ad in ads_of(account)
    ]


# --- "Today" ---------------------------------------------------------------------------------------

_pinned_today: date | None = None
_today_lock = threading.Lock()


def today_set(day: date | None) -> None:
    """Pin the sandbox's today (tests, demos of revisions); None follows the clock again."""
    global _pinned_today
    with _today_lock:
        _pinned_today = day


def today_for(account: SandboxAdAccount) -> date:
    with _today_lock:
        if _pinned_today is not None:
            return _pinned_today
    try:
        zone = zoneinfo.ZoneInfo(account.timezone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    return datetime.now(tz=zone).date()


# --- Daily figures ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayFigures:
    impressions: int
    clicks: int
    reach: int
    spend_cents: int
    purchases: int


def _dice(*parts: object) -> bytes:
    return hashlib.sha256(":".join(str(part) for part in parts).encode()).digest()


def final_figures(ad: Ad, day: date) -> DayFigures | None:
    """The figures Meta settles on for this ad and day (None: no delivery that day)."""
    spec = ad.spec
    if spec.every_third_day_off and day.toordinal() % 3 == 0:
        return None
    d = _dice(ad.account_id, ad.ad_id, day.isoformat())
    impressions = spec.base_impressions * (80 + d[0] % 41) // 100
    clicks = impressions * spec.ctr_basis_points * (85 + d[1] % 31) // 1_000_000
    cpm = spec.cpm_cents * (90 + d[2] % 21) // 100
    return DayFigures(
        impressions=impressions,
        clicks=clicks,
        reach=impressions * (70 + d[3] % 21) // 100,
        spend_cents=impressions * cpm // 1000,
        purchases=clicks * (d[4] % 9) // 100,
    )


def revised_figures(ad: Ad, day: date, today: date) -> DayFigures | None:
    """What Meta reports for `day` when asked on `today` (None: nothing to report)."""
    age = (today - day).days
    if age < 0:
        return None
    final = final_figures(ad, day)
    if final is None:
        return None
    percent = REVISION_PERCENT.get(age, 100)
    if percent == 100:
        return final
    impressions = final.impressions * percent // 100
    if impressions == 0:
        return None
    return DayFigures(
        impressions=impressions,
        clicks=final.clicks * percent // 100,
        reach=final.reach * percent // 100,
        spend_cents=final.spend_cents * percent // 100,
        purchases=final.purchases * percent // 100,
    )


def days(since: date, until: date) -> Iterator[date]:
    day = since
    while day <= until:
        yield day
        day += timedelta(days=1)


@dataclass(frozen=True)
class FiguresRow:
    ad: Ad
    day: date
    figures: DayFigures


def daily_rows(account: SandboxAdAccount, since: date, until: date, today: date) -> Iterable[FiguresRow]:
    """Every (day, ad) with delivery, ordered by day then ad (a stable order for paging)."""
    ads = ads_of(account)
    for day in days(since, min(until, today)):
        for ad in ads:
            figures = revised_figures(ad, day, today)
            if figures is not None:
                yield FiguresRow(ad=ad, day=day, figures=figures)

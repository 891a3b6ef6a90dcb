"""Meta's insights rows (level ad, one day each) read into typed values.

Meta sends money and counts as strings ("12.34", "1520"); spend is in the ad account's
currency. Spend is read with `Decimal` straight from the string, never through a float.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from integrations.admetrics.problems import RowUnreadable

# The fields one import asks for (`level=ad`, `time_increment=1`).
INSIGHT_FIELDS = (
    "account_id",
    "account_currency",
    "campaign_id",
    "campaign_name",
    "adset_id",
    "adset_name",
    "ad_id",
    "ad_name",
    "spend",
    "impressions",
    "clicks",
    "reach",
    "actions",
    "date_start",
    "date_stop",
)
SPEND_PLACES = Decimal("0.0001")  # the model keeps 4 decimal places
NAME_LENGTH = 400

Key = tuple[date, str, str, str]  # (day, campaign id, ad set id, ad id) within one ad account


@dataclass(frozen=True)
class InsightRow:
    date: date
    campaign_id: str
    campaign_name: str
    adset_id: str
    adset_name: str
    ad_id: str
    ad_name: str
    currency: str
    spend: Decimal
    impressions: int
    clicks: int
    reach: int
    actions: list[dict[str, str]]

    @property
    def key(self) -> Key:
        return (self.date, self.campaign_id, self.adset_id, self.ad_id)


def _day(raw: dict[str, Any]) -> date:
    try:
        start = date.fromisoformat(str(raw.get("date_start")))
        stop = date.fromisoformat(str(raw.get("date_stop") or raw.get("date_start")))
    except ValueError:
        raise RowUnreadable(f"a row's date_start is not a date ({raw.get('date_start')!r})") from None
    if start != stop:
        raise RowUnreadable(f"a row covers {start} to {stop}, not one day (time_increment=1 was not applied)")
    return start


def _spend(value: Any) -> Decimal:
    # A JSON number would already be a float: its shortest repr is what Meta wrote.
    text = repr(value) if isinstance(value, float) else str(value if value not in (None, "") else "0")
    try:
        spend = Decimal(text)
    except InvalidOperation:
        raise RowUnreadable(f"spend {text!r} is not a number") from None
    if not spend.is_finite() or spend < 0:
        raise RowUnreadable(f"spend {text!r} is not a non-negative amount")
    return spend.quantize(SPEND_PLACES, rounding=ROUND_HALF_EVEN)


def _count(raw: dict[str, Any], name: str) -> int:
    value = raw.get(name)
    if value in (None, ""):
        return 0  # Meta leaves out a metric it has nothing for
    try:
        number = int(str(value))
    except ValueError:
        raise RowUnreadable(f"{name} {value!r} is not a whole number") from None
    if number < 0:
        raise RowUnreadable(f"{name} {value!r} is negative")
    return number


def _id(raw: dict[str, Any], name: str) -> str:
    value = str(raw.get(name) or "").strip()
    if not value:
        raise RowUnreadable(f"a row has no {name} (the import asks for level=ad)")
    return value


def _actions(value: Any) -> list[dict[str, str]]:
    """[{action_type, value}] as strings, sorted, so an unchanged day compares equal."""
    if not isinstance(value, list):
        return []
    actions = [
        {"action_type": str(item.get("action_type")), "value": str(item.get("value"))}
        for item in value
        if isinstance(item, dict) and item.get("action_type")
    ]
    return sorted(actions, key=lambda item: item["action_type"])


def insight_row_parse(raw: dict[str, Any], *, default_currency: str) -> InsightRow:
    currency = str(raw.get("account_currency") or default_currency or "").upper()[:3]
    return InsightRow(
        date=_day(raw),
        campaign_id=_id(raw, "campaign_id"),
        campaign_name=str(raw.get("campaign_name") or "")[:NAME_LENGTH],
        adset_id=_id(raw, "adset_id"),
        adset_name=str(raw.get("adset_name") or "")[:NAME_LENGTH],
        ad_id=_id(raw, "ad_id"),
        ad_name=str(raw.get("ad_name") or "")[:NAME_LENGTH],
        currency=currency,
        spend=_spend(raw.get("spend")),
        impressions=_count(raw, "impressions"),
        clicks=_count(raw, "clicks"),
        reach=_count(raw, "reach"),
        actions=_actions(raw.get("actions")),
    )

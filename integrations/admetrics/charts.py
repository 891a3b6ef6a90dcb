"""The report's chart over time, as SVG coordinates for a template (no script, no CDN).

Spend per day as bars on the left axis, CPM per day as a line on the right axis, in one
currency. Day i of the range takes the i-th slot of the plot's width, so a day without
delivery leaves a gap (and breaks the CPM line) instead of squeezing the others.
Same geometry and look as the sync job charts (`static/ops/ops.css`, `.ops-chart`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from integrations.admetrics.selectors import DayPoint

WIDTH = 720
HEIGHT = 220
LEFT = 64  # room for the spend axis labels
RIGHT = 56  # room for the CPM axis labels
TOP = 10
BOTTOM = 24
TICKS = 4


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass
class SpendChart:
    currency: str
    bars: list[Bar]
    cpm_lines: list[str]  # SVG polyline points, one per run of days with impressions
    spend_ticks: list[Tick]
    cpm_ticks: list[Tick]
    first_label: str
    last_label: str
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    bottom: int = HEIGHT - BOTTOM
    cpm_points: list[tuple[float, float]] = field(default_factory=list)


def _nice_ceiling(value: Decimal) -> Decimal:
    """1, 2, 5 x 10^n at or above `value`, so the axis labels read well."""
    if value <= 0:
        return Decimal(1)
    magnitude = Decimal(10) ** (value.adjusted())
    for step in (1, 2, 5, 10):
        if value <= magnitude * step:
            return magnitude * step
    return magnitude * 10


def _label(value: Decimal) -> str:
    if value >= 1000:
        return f"{value / 1000:,.1f}k".replace(".0k", "k")
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"


def spend_chart(*, points: list[DayPoint], currency: str, since: date, until: date) -> SpendChart | None:
    if not points:
        return None
    slots = (until - since).days + 1
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    bottom = TOP + plot_height
    slot = plot_width / slots
    bar_width = max(slot * 0.8, 0.5)
    spend_top = _nice_ceiling(max(point.spend for point in points))
    cpms = [point.cpm for point in points if point.cpm is not None]
    cpm_top = _nice_ceiling(max(cpms)) if cpms else Decimal(1)

    def y_of(value: Decimal, top: Decimal) -> float:
        return round(bottom - float(value / top) * plot_height, 1)

    bars, lines, current, points_xy = [], [], [], []
    previous_index = None
    for point in points:
        index = (point.day - since).days
        x = LEFT + index * slot
        y = y_of(point.spend, spend_top)
        cpm_text = f"{point.cpm} CPM" if point.cpm is not None else "no impressions"
        bars.append(
            Bar(
                x=round(x + (slot - bar_width) / 2, 1),
                y=y,
                width=round(bar_width, 1),
                height=round(bottom - y, 1),
                label=f"{point.day}: {point.spend:.2f} {currency} spent, {point.impressions:,} impressions, "
                f"{point.clicks:,} clicks, {cpm_text}",
            )
        )
        if point.cpm is None or (previous_index is not None and index != previous_index + 1):
            if current:
                lines.append(" ".join(current))
            current = []
        if point.cpm is not None:
            xy = (round(x + slot / 2, 1), y_of(point.cpm, cpm_top))
            points_xy.append(xy)
            current.append(f"{xy[0]},{xy[1]}")
        previous_index = index
    if current:
        lines.append(" ".join(current))
    return SpendChart(
        currency=currency,
        bars=bars,
        cpm_lines=lines,
        spend_ticks=[Tick(y_of(spend_top * k / TICKS, spend_top), _label(spend_top * k / TICKS)) for k in range(5)],
        cpm_ticks=[Tick(y_of(cpm_top * k / TICKS, cpm_top), _label(cpm_top * k / TICKS)) for k in range(5)],
        first_label=since.isoformat(),
        last_label=until.isoformat(),
        cpm_points=points_xy,
    )

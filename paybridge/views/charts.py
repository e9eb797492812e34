"""Plotly figures for the dashboard. Amounts stay integers of minor units: axis ticks and hover
labels are formatted by money.py, so no amount is turned into a float on the way.

Figures are plain plotly JSON dicts, not `go.Figure` objects: building and validating a Figure
cost milliseconds per tab per refresh, and pickling one into every tab's stored state was the
largest part of a live update. A dict is built once per snapshot and shared by every tab."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from paybridge.display import format_bp
from paybridge.money import CURRENCY_SYMBOLS, exponent, format_money
from paybridge.selectors.analytics import DailyPoint, ProviderStats

CHART_HEIGHT = 280
HEALTH_COLORS = {"green": "#30a46c", "amber": "#ffb224", "red": "#e5484d", "none": "#8b8d98"}


def money_ticks(top: int, currency: str, count: int = 4) -> tuple[list[int], list[str]]:
    """Round tick values from 0 to at least `top` minor units, labelled as money."""
    if top <= 0:
        return [0], [format_money(0, currency)]
    unit = 10 ** exponent(currency)
    raw_step = -(-top // count)
    magnitude = 10 ** (len(str(raw_step)) - 1)
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step)
    step = max(step, unit if top >= unit else 1)
    values = list(range(0, top + step, step))
    return values, [_short_money(v, currency) for v in values]


def _short_money(minor: int, currency: str) -> str:
    """Compact axis labels in integer arithmetic: 125_000_000 USD minor -> '$1.2M'."""
    unit = 10 ** exponent(currency)
    if minor % unit:
        return format_money(minor, currency)
    major = minor // unit
    for size, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if major >= size:
            whole, tenth = major // size, (major % size) * 10 // size
            text = f"{whole}.{tenth}{suffix}" if tenth and whole < 10 else f"{whole:,}{suffix}"
            break
    else:
        text = f"{major:,}"
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


def _money_axis(ticks: tuple[list[int], list[str]]) -> dict[str, Any]:
    """The axis that carries amounts: round ticks labelled as money ("$30k"), from 0 to the
    top tick, so the top label is a round number too."""
    return {
        "gridcolor": "rgba(128,128,128,0.15)",
        "zeroline": False,
        "tickvals": ticks[0],
        "ticktext": ticks[1],
        "range": [0, ticks[0][-1] or 1],
        "automargin": True,
    }


def _layout(*, height: int, xaxis: dict[str, Any], yaxis: dict[str, Any]) -> dict[str, Any]:
    """Plotly layout shared by both charts; components/charts.py's CHART_TEMPLATE (light or
    dark) is merged in the browser. Margins start small and `automargin` grows them to fit the
    tick labels, so labels are never cut at the chart's edge whatever their length or the
    card's width."""
    return {
        "margin": {"l": 4, "r": 12, "t": 12, "b": 4},
        "height": height,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "showlegend": False,
        "font": {"size": 11},
        "hoverlabel": {"namelength": 0},
        "xaxis": {"automargin": True, **xaxis},
        "yaxis": {"automargin": True, **yaxis},
    }


def daily_volume_figure(points: list[DailyPoint], currency: str) -> dict[str, Any]:
    volumes = [p.volume for p in points]
    trace = {
        "type": "scatter",
        "x": [p.day.isoformat() for p in points],
        "y": volumes,
        "mode": "lines",
        "fill": "tozeroy",
        "line": {"color": "#3e63dd", "width": 2},
        "fillcolor": "rgba(62,99,221,0.18)",
        "hovertext": [
            f"{p.day:%b %d}: {format_money(p.volume, currency)} · {p.count:,} payments"
            for p in points
        ],
        "hoverinfo": "text",
    }
    ticks = money_ticks(max(volumes, default=0), currency)
    xaxis = {
        "showgrid": False,
        "type": "date",
        "tickformat": "%b %d",
        "nticks": 6,
        "ticklabelstandoff": 4,  # clear of the "$0" beside the first date
    }
    return {
        "data": [trace],
        "layout": _layout(height=CHART_HEIGHT, xaxis=xaxis, yaxis=_money_axis(ticks)),
    }


def provider_figure(providers: list[ProviderStats], currency: str) -> dict[str, Any]:
    """Horizontal bars, the busiest provider on top: the names sit beside their bars at any
    width (upright names under narrow bars are dropped on a phone), and each bar ends with
    its success rate."""
    trace = {
        "type": "bar",
        "orientation": "h",
        "y": [p.name for p in providers],
        "x": [p.volume for p in providers],
        "marker": {"color": [HEALTH_COLORS[p.health] for p in providers]},
        "hovertext": [
            f"{p.name}: {format_money(p.volume, currency)} · {p.count:,} payments · "
            f"success {format_bp(p.success_rate_bp)}"
            for p in providers
        ],
        "hoverinfo": "text",
        "text": [format_bp(p.success_rate_bp) for p in providers],
        "textposition": "outside",
        "cliponaxis": False,
    }
    top = max((p.volume for p in providers), default=0)
    # Room past the longest bar for its rate label: the axis ends a fifth beyond it.
    ticks = money_ticks(top + top // 5, currency)
    layout = _layout(
        height=CHART_HEIGHT,
        xaxis=_money_axis(ticks),
        yaxis={"autorange": "reversed", "ticksuffix": " "},
    )
    layout["bargap"] = 0.35
    return {"data": [trace], "layout": layout}


@dataclass(frozen=True)
class Charts:
    """Both figures of some numbers, drawn when first asked for: a live stream makes new
    numbers with each payment, but sends new charts only every few seconds (most are never
    drawn). Equal charts have the same figures; comparing them is cheap for a stream, whose
    numbers keep the daily points a payment did not change (hashing every point was not)."""

    currency: str
    daily: tuple[DailyPoint, ...]
    providers: tuple[ProviderStats, ...]

    @cached_property
    def figures(self) -> dict[str, Any]:
        return {
            "daily": daily_volume_figure(list(self.daily), self.currency),
            "providers": provider_figure(list(self.providers), self.currency),
        }

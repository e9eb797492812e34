"""Plotly figures for the dashboard. Amounts stay integers of minor units: axis ticks and hover
labels are formatted by money.py, so no amount is turned into a float on the way.

Figures are plain plotly JSON dicts, not `go.Figure` objects: building and validating a Figure
cost milliseconds per tab per refresh, and pickling one into every tab's stored state was the
largest part of a live update. A dict is built once per snapshot and shared by every tab."""

from __future__ import annotations

from typing import Any

import reflex as rx
from plotly.graph_objs.layout import Template

from paybridge.display import format_bp
from paybridge.money import CURRENCY_SYMBOLS, exponent, format_money
from paybridge.selectors.analytics import DailyPoint, ProviderStats

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


def _template(text: str, grid: str, line: str) -> dict[str, Any]:
    axis = {"gridcolor": grid, "linecolor": line, "zerolinecolor": grid, "ticks": ""}
    return {
        "layout": {"font": {"color": text}, "hovermode": "closest", "xaxis": axis, "yaxis": axis}
    }


# What the charts take from plotly's default light and dark templates. rx.plotly would merge in
# the whole of them (every trace type's defaults, ~10 KB), and plotly works through a template on
# each redraw: with only these few values a redraw of both charts measured ~45 ms, not ~62 ms.
CHART_TEMPLATE = rx.color_mode_cond(
    light=_template("#2a3f5f", "white", "white"),
    dark=_template("#f2f5fa", "#283442", "#506784"),
).to(Template)


def _layout(ticks: tuple[list[int], list[str]]) -> dict[str, Any]:
    """Plotly layout shared by both charts; CHART_TEMPLATE (light or dark) is merged in the
    browser."""
    return {
        "margin": {"l": 8, "r": 8, "t": 8, "b": 8},
        "height": 260,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "showlegend": False,
        "font": {"size": 11},
        "hoverlabel": {"namelength": 0},
        "xaxis": {"showgrid": False},
        "yaxis": {
            "gridcolor": "rgba(128,128,128,0.15)",
            "zeroline": False,
            "tickvals": ticks[0],
            "ticktext": ticks[1],
        },
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
    return {"data": [trace], "layout": _layout(money_ticks(max(volumes, default=0), currency))}


def provider_figure(providers: list[ProviderStats], currency: str) -> dict[str, Any]:
    trace = {
        "type": "bar",
        "x": [p.name for p in providers],
        "y": [p.volume for p in providers],
        "marker": {"color": [HEALTH_COLORS[p.health] for p in providers]},
        "hovertext": [
            f"{p.name}: {format_money(p.volume, currency)} · {p.count:,} payments · "
            f"success {format_bp(p.success_rate_bp)}"
            for p in providers
        ],
        "hoverinfo": "text",
        "text": [format_bp(p.success_rate_bp) for p in providers],
        "textposition": "outside",
    }
    top = max((p.volume for p in providers), default=0)
    return {"data": [trace], "layout": _layout(money_ticks(top, currency))}

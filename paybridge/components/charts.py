"""The charts' light and dark templates: the one part of the dashboard charts that needs
Reflex (the figures themselves are built without it, in paybridge/views/charts.py)."""

from __future__ import annotations

from typing import Any

import reflex as rx
from plotly.graph_objs.layout import Template


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

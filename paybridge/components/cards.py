"""Metric cards, status badges, small labelled values."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from paybridge.views.dashboard import MetricCard
from paybridge.views.labels import STATUS_COLORS

TREND_COLORS = {"up": "green", "down": "red", "flat": "gray", "none": "gray"}
# Style of a text kept on one line, cut with an ellipsis when its box is narrower (a phone).
ONE_LINE = {"white_space": "nowrap", "overflow": "hidden", "text_overflow": "ellipsis"}


def metric_card(card: ObjectVar[MetricCard]) -> rx.Component:
    """A dashboard headline card: label, value (its heading carries `card.id`), change, period."""
    return rx.card(
        rx.vstack(
            rx.text(card.label, size="2", color_scheme="gray"),
            rx.heading(card.value, size="7", id=card.id),
            rx.hstack(
                rx.badge(
                    card.change,
                    color_scheme=rx.match(card.trend, *TREND_COLORS.items(), "gray"),
                    variant="soft",
                ),
                rx.text(card.versus, size="1", color_scheme="gray"),
                spacing="2",
                align="center",
                wrap="wrap",
            ),
            spacing="2",
        ),
        width="100%",
    )


def status_badge(status: rx.Var) -> rx.Component:
    return rx.match(
        status,
        *[(name, rx.badge(name, color_scheme=color)) for name, color in STATUS_COLORS.items()],
        rx.badge(status),
    )


def stat(label: str, value: rx.Var | str, test_id: str = "", hint: str = "") -> rx.Component:
    head = rx.text(label, size="1", color_scheme="gray")
    if hint:
        head = rx.hstack(
            head,
            rx.tooltip(rx.icon("info", size=12, color=rx.color("gray", 9)), content=hint),
            spacing="1",
            align="center",
        )
    return rx.vstack(head, rx.text(value, size="4", weight="bold", id=test_id or None), spacing="0")

"""Metric cards and status badges."""

from __future__ import annotations

import reflex as rx

STATUS_COLORS = {"success": "green", "pending": "amber", "failed": "red", "refunded": "gray"}


def metric_card(card: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(card["label"], size="2", color_scheme="gray"),
            rx.heading(card["value"], size="6"),
            rx.text(card["change"], " vs previous 30 days", size="1", color_scheme="gray"),
            spacing="1",
        ),
        width="100%",
    )


def status_badge(status: rx.Var) -> rx.Component:
    return rx.match(
        status,
        *[(name, rx.badge(name, color_scheme=color)) for name, color in STATUS_COLORS.items()],
        rx.badge(status),
    )

"""`/`: headline numbers, balances and the latest payments of the demo merchant."""

from __future__ import annotations

import reflex as rx

from paybridge.components.cards import metric_card, status_badge
from paybridge.components.layout import template
from paybridge.state.overview import OverviewState


def _recent_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                *[
                    rx.table.column_header_cell(h)
                    for h in ("Reference", "Customer", "Amount", "Provider", "Status", "Time")
                ]
            )
        ),
        rx.table.body(
            rx.foreach(
                OverviewState.recent,
                lambda row: rx.table.row(
                    rx.table.cell(rx.code(row["reference"])),
                    rx.table.cell(row["customer"]),
                    rx.table.cell(row["amount"]),
                    rx.table.cell(row["provider"]),
                    rx.table.cell(status_badge(row["status"])),
                    rx.table.cell(row["time"]),
                ),
            )
        ),
        width="100%",
    )


@template(route="/", title="Dashboard", on_load=[OverviewState.load])
def overview_page() -> rx.Component:
    return rx.box(
        rx.vstack(
            rx.text("Last 30 days · ", OverviewState.currency, color_scheme="gray"),
            rx.grid(
                rx.foreach(OverviewState.cards, metric_card),
                columns=rx.breakpoints(initial="1", sm="2", lg="4"),
                spacing="4",
                width="100%",
            ),
            rx.grid(
                rx.card(
                    rx.text("Available balance", size="2", color_scheme="gray"),
                    rx.heading(OverviewState.balance_available, size="6", id="balance-available"),
                ),
                rx.card(
                    rx.text("Pending balance", size="2", color_scheme="gray"),
                    rx.heading(OverviewState.balance_pending, size="6"),
                ),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="4",
                width="100%",
            ),
            rx.card(rx.heading("Recent transactions", size="4"), _recent_table(), width="100%"),
            spacing="5",
        ),
        width="100%",
    )

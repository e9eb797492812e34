"""`/`: the live dashboard."""

from __future__ import annotations

import reflex as rx
from plotly.graph_objects import Figure
from reflex.vars import ObjectVar

from paybridge.components.cards import metric_card, stat, status_badge
from paybridge.components.charts import CHART_TEMPLATE
from paybridge.components.layout import template, wide_or_narrow
from paybridge.components.tables import data_table, empty_state, stacked_payments
from paybridge.components.user import user_summary_card
from paybridge.components.withdraw import withdraw_button, withdraw_dialog
from paybridge.state.dashboard import RANGE_LABELS, DashboardChartsState
from paybridge.state.dashboard import DashboardState as S
from paybridge.views.activity import FeedLine, RecentRow
from paybridge.views.dashboard import StatusCard
from paybridge.views.labels import AVAILABLE_HINT, PENDING_HINT


def _filters() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.segmented_control.root(
                *[
                    rx.segmented_control.item(label, value=key)
                    for key, label in {**RANGE_LABELS, "custom": "Custom"}.items()
                ],
                value=S.range_key,
                on_change=S.set_range,
                size="1",
                id="range",
            ),
            rx.select(
                S.currencies, value=S.currency, on_change=S.set_currency, size="1", id="currency"
            ),
            rx.text(S.period_label, " · ", S.timezone, size="1", color_scheme="gray", id="period"),
            spacing="3",
            align="center",
            wrap="wrap",
        ),
        rx.cond(
            S.range_key == "custom",
            rx.form(
                rx.hstack(
                    rx.input(
                        type="date",
                        name="from",
                        default_value=S.custom_from,
                        size="1",
                        key=S.custom_from,
                    ),
                    rx.input(
                        type="date", name="to", default_value=S.custom_to, size="1", key=S.custom_to
                    ),
                    rx.button("Apply", size="1", type="submit"),
                    spacing="2",
                ),
                on_submit=S.set_custom_range,
                reset_on_submit=False,
            ),
        ),
        rx.cond(S.filter_error != "", rx.text(S.filter_error, color_scheme="red", size="1")),
        spacing="2",
        width="100%",
    )


def _charts() -> rx.Component:
    return rx.grid(
        rx.card(
            rx.heading("Daily volume", size="3"),
            rx.plotly.basic(
                data=DashboardChartsState.daily.to(Figure),
                template=CHART_TEMPLATE,
                config={"displayModeBar": False},
                use_resize_handler=True,
                width="100%",
            ),
            width="100%",
            id="daily-chart",
        ),
        rx.card(
            rx.hstack(
                rx.heading("Providers", size="3"),
                rx.spacer(),
                rx.hstack(
                    *[
                        rx.hstack(
                            rx.box(width="8px", height="8px", border_radius="50%", background=c),
                            rx.text(t, size="1"),
                            align="center",
                            spacing="1",
                        )
                        for c, t in (
                            ("#30a46c", "≥ 98%"),
                            ("#ffb224", "95-98%"),
                            ("#e5484d", "< 95%"),
                        )
                    ],
                    spacing="3",
                    wrap="wrap",
                ),
                width="100%",
                wrap="wrap",
            ),
            rx.plotly.basic(
                data=DashboardChartsState.providers.to(Figure),
                template=CHART_TEMPLATE,
                config={"displayModeBar": False},
                use_resize_handler=True,
                width="100%",
            ),
            width="100%",
        ),
        columns=rx.breakpoints(initial="1", lg="2"),
        spacing="4",
        width="100%",
    )


def _status_card(s: ObjectVar[StatusCard]) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.badge(s.status, color_scheme=s.color),
            rx.spacer(),
            rx.text(s.share, size="1", color_scheme="gray"),
            width="100%",
        ),
        rx.heading(s.count, size="5", id="status-" + s.status),
        width="100%",
    )


def _statuses() -> rx.Component:
    return rx.grid(
        rx.foreach(S.statuses, _status_card),
        columns=rx.breakpoints(initial="2", md="4"),
        spacing="4",
        width="100%",
    )


def _recent_row(row: ObjectVar[RecentRow]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(row.reference, size="1")),
        rx.table.cell(row.customer),
        rx.table.cell(row.amount),
        rx.table.cell(row.provider),
        rx.table.cell(status_badge(row.status)),
        rx.table.cell(row.time),
        class_name="recent-row",
    )


def _recent_table() -> rx.Component:
    return data_table(
        ("Reference", "Customer", "Amount", "Provider", "Status", "Time"),
        S.recent,
        _recent_row,
        body_id="recent-body",
        size="1",
        width="100%",
        white_space="nowrap",
    )


def _recent() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Recent transactions", size="3"),
                rx.spacer(),
                rx.link("View all", href="/transactions", size="2"),
                width="100%",
            ),
            wide_or_narrow(
                _recent_table(),
                stacked_payments(
                    S.recent,
                    time_key="time",
                    item_class="recent-item",
                    refunded=False,
                    id="recent-list",
                ),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )


def _feed_line(item: ObjectVar[FeedLine]) -> rx.Component:
    return rx.hstack(
        rx.icon(item.icon, size=14, color=rx.color("gray", 10)),
        rx.vstack(
            rx.text(item.text, size="2"),
            rx.text(item.time, size="1", color_scheme="gray"),
            spacing="0",
        ),
        spacing="2",
        align="start",
        class_name="feed-item",
    )


def _feed() -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.heading("Activity", size="3"),
            rx.spacer(),
            rx.cond(
                S.live,
                rx.badge(
                    rx.box(width="6px", height="6px", border_radius="50%", background="#30a46c"),
                    "Live",
                    color_scheme="green",
                    id="feed-live",
                ),
                rx.badge("Paused", color_scheme="gray", id="feed-paused"),
            ),
            width="100%",
        ),
        rx.scroll_area(
            rx.vstack(
                rx.foreach(S.feed, _feed_line),
                empty_state("No activity yet.", S.feed),
                spacing="3",
                id="feed",
            ),
            type="auto",
            scrollbars="vertical",
            style={"height": "300px"},
        ),
        width="100%",
    )


def _settlement() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Settlement", size="3"),
            rx.grid(
                stat("Available balance", S.available, "balance-available", AVAILABLE_HINT),
                stat("Pending balance", S.pending, "balance-pending", PENDING_HINT),
                columns="2",
                spacing="3",
                width="100%",
            ),
            stat("Next settlement", S.next_settlement, "next-settlement"),
            withdraw_button(S.currency, enabled=S.can_withdraw),
            withdraw_dialog(),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _health() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("System health", size="3"),
            rx.grid(
                stat("Webhook delivery (24 h)", S.health.delivery_rate, "health-delivery"),
                stat("Uptime", S.health.uptime, "health-uptime"),
                stat(
                    "API p50 / p95",
                    S.health.p50 + " / " + S.health.p95,
                    "health-latency",
                ),
                stat(
                    "Requests (24 h) · 5xx",
                    S.health.requests + " · " + S.health.error_share,
                    "health-requests",
                ),
                columns="2",
                spacing="3",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


@template(route="/", title="Dashboard", on_load=[S.load])
def dashboard_page() -> rx.Component:
    return rx.vstack(
        _filters(),
        rx.cond(
            ~S.has_data,
            rx.callout(
                "No payments yet. Create one through the API (see Developers) and it "
                "appears here instantly.",
                icon="info",
                width="100%",
            ),
        ),
        rx.grid(
            rx.foreach(S.cards, metric_card),
            columns=rx.breakpoints(initial="1", sm="2", xl="4"),
            spacing="4",
            width="100%",
        ),
        _charts(),
        _statuses(),
        _recent(),
        rx.grid(
            _feed(),
            _settlement(),
            _health(),
            user_summary_card(
                initials=S.profile.initials,
                name=S.profile.name,
                company=S.profile.company,
                email=S.profile.email,
                kyc_status=S.profile.kyc,
                account_type=S.profile.account_type,
            ),
            columns=rx.breakpoints(initial="1", lg="2"),
            spacing="4",
            width="100%",
        ),
        spacing="5",
        width="100%",
    )

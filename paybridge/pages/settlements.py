"""`/settlements`: balances, withdraw, payout schedule and bank account, payout history."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from paybridge.components.access import allowed_to
from paybridge.components.cards import stat
from paybridge.components.forms import form_error, labeled_select
from paybridge.components.layout import template, wide_or_narrow
from paybridge.components.tables import data_table, empty_state
from paybridge.components.withdraw import withdraw_button, withdraw_dialog
from paybridge.permissions import Action
from paybridge.state.settlements import WEEKDAYS
from paybridge.state.settlements import SettlementsState as S
from paybridge.views.labels import (
    AVAILABLE_HINT,
    PAYOUT_SCHEDULES,
    PENDING_HINT,
    SETTLEMENT_STATUSES,
)
from paybridge.views.settlements import BalanceRow, PayoutRow


def _hinted(label: str, hint: str) -> rx.Component:
    return rx.hstack(
        rx.text(label), rx.tooltip(rx.icon("info", size=12), content=hint), align="center"
    )


def _balance_row(b: ObjectVar[BalanceRow]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.badge(b.currency)),
        rx.table.cell(b.available, id="available-" + b.currency.to(str)),
        rx.table.cell(b.pending),
        rx.table.cell(
            withdraw_button(
                b.currency,
                enabled=b.can_withdraw,
                button_id="withdraw-" + b.currency.to(str),
            )
        ),
    )


def _balances_table() -> rx.Component:
    return data_table(
        (
            "Currency",
            _hinted("Available", AVAILABLE_HINT),
            _hinted("Pending", PENDING_HINT),
            "",
        ),
        S.balances,
        _balance_row,
        width="100%",
        white_space="nowrap",
    )


def _balances_stacked() -> rx.Component:
    """On a phone: one row per currency, its Withdraw button in sight."""
    return rx.vstack(
        rx.foreach(
            S.balances,
            lambda b: rx.hstack(
                rx.vstack(
                    rx.hstack(
                        rx.badge(b.currency),
                        rx.text(b.available, size="3", weight="bold"),
                        align="center",
                        spacing="2",
                    ),
                    rx.text("Pending ", b.pending, size="1", color_scheme="gray"),
                    spacing="1",
                ),
                rx.spacer(),
                rx.box(
                    withdraw_button(
                        b.currency,
                        enabled=b.can_withdraw,
                        button_id="withdraw-phone-" + b.currency.to(str),
                    ),
                    width="110px",
                ),
                width="100%",
                align="center",
                padding_y="8px",
                border_bottom=f"1px solid {rx.color('gray', 4)}",
            ),
        ),
        rx.text(AVAILABLE_HINT, size="1", color_scheme="gray", padding_top="8px"),
        spacing="0",
        width="100%",
    )


def _balances() -> rx.Component:
    return rx.card(
        rx.heading("Balances", size="4"),
        wide_or_narrow(_balances_table(), _balances_stacked()),
        rx.cond(
            S.balances.length() == 0,
            rx.text(
                "No balance yet: payments settle here after the hold period.",
                size="2",
                color_scheme="gray",
            ),
        ),
        width="100%",
    )


def _settings() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Payout schedule", size="4"),
                rx.grid(
                    stat("Next payout", S.next_payout, "next-payout"),
                    stat(
                        "Hold period",
                        S.hold_days,
                        "hold-days",
                        "How long a successful payment is held before it can be paid out.",
                    ),
                    stat(
                        "Bank account",
                        rx.cond(
                            S.bank_account != "", S.bank_name + " " + S.bank_account, "None yet"
                        ),
                        "bank-account",
                    ),
                    columns=rx.breakpoints(initial="1", sm="3"),
                    spacing="3",
                    width="100%",
                ),
                form_error(S.settings_error, "settings-error"),
                rx.cond(
                    S.settings_saved != "",
                    rx.callout(S.settings_saved, icon="check", color_scheme="green", size="1"),
                ),
                rx.hstack(
                    labeled_select(
                        "Schedule",
                        "schedule",
                        [(s, s.title()) for s in PAYOUT_SCHEDULES],
                        S.schedule,
                    ),
                    labeled_select(
                        "Weekly on",
                        "weekday",
                        [(str(i), d) for i, d in enumerate(WEEKDAYS)],
                        S.weekday,
                    ),
                    labeled_select(
                        "Monthly on day",
                        "day_of_month",
                        [(str(d), str(d)) for d in range(1, 32)],
                        S.day_of_month,
                    ),
                    spacing="4",
                    wrap="wrap",
                ),
                rx.hstack(
                    rx.input(
                        name="bank_name",
                        placeholder="Bank name",
                        default_value=S.bank_name,
                        key=S.bank_name,
                    ),
                    rx.input(
                        name="bank_account_number",
                        id="bank_account_number",
                        placeholder="New account number (kept masked)",
                        auto_complete="off",
                    ),
                    spacing="3",
                    wrap="wrap",
                ),
                rx.text(
                    "Days 29-31 pay out on the last day of shorter months. Dates follow your "
                    "timezone.",
                    size="1",
                    color_scheme="gray",
                ),
                rx.button("Save payout settings", type="submit", id="settings-submit"),
                spacing="3",
                width="100%",
            ),
            on_submit=S.save_settings,
            reset_on_submit=False,
        ),
        width="100%",
    )


def _payout_row(p: ObjectVar[PayoutRow]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(p.amount),
        rx.table.cell(
            rx.hstack(
                rx.badge(
                    p.status,
                    color_scheme=p.color,
                ),
                rx.cond(
                    p.reason != "",
                    rx.text(
                        p.reason,
                        " · returned to your balance",
                        size="1",
                        color_scheme="red",
                    ),
                ),
                align="center",
                spacing="2",
            )
        ),
        rx.table.cell(p.created),
        rx.table.cell(p.completed),
        rx.table.cell(p.bank),
        rx.table.cell(rx.code(p.reference, size="1")),
        class_name="payout-row",
    )


def _history() -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.heading("Payouts", size="4"),
            rx.spacer(),
            rx.select(
                ["all", *SETTLEMENT_STATUSES],
                value=S.status_filter,
                on_change=S.set_status_filter,
                size="1",
                id="payout-status",
            ),
            width="100%",
        ),
        rx.box(
            data_table(
                ("Amount", "Status", "Created", "Completed", "Bank", "Reference"),
                S.history,
                _payout_row,
                body_id="payouts-body",
                size="1",
                width="100%",
                white_space="nowrap",
            ),
            width="100%",
        ),
        empty_state("No payouts yet.", S.history),
        rx.hstack(
            rx.button(
                "Newer",
                on_click=S.previous_page,
                disabled=~S.has_previous,
                variant="soft",
                size="1",
            ),
            rx.button(
                "Older", on_click=S.next_page, disabled=~S.has_next, variant="soft", size="1"
            ),
            justify="end",
            width="100%",
        ),
        width="100%",
    )


@template(route="/settlements", title="Settlements", on_load=[S.load])
def settlements_page() -> rx.Component:
    return rx.vstack(
        _balances(),
        allowed_to(Action.PAYOUT_SETTINGS, _settings()),
        _history(),
        withdraw_dialog(),
        spacing="4",
        width="100%",
    )

"""`/transactions`: the payments explorer."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from paybridge.components.cards import status_badge
from paybridge.components.layout import template, wide_or_narrow
from paybridge.components.tables import data_table, empty_state, stacked_payments
from paybridge.components.transaction_filters import saved_views, transaction_filters
from paybridge.state.transactions import TransactionsState as S
from paybridge.views.transactions import TransactionListRow


def _sort_header(label: str, key: str) -> rx.Component:
    arrow = rx.cond(
        S.sort == f"{key}_desc",
        rx.icon("arrow-down", size=12),
        rx.cond(S.sort == f"{key}_asc", rx.icon("arrow-up", size=12), rx.fragment()),
    )
    return rx.table.column_header_cell(
        rx.hstack(label, arrow, spacing="1", align="center"),
        on_click=S.sort_by(key),
        cursor="pointer",
        id=f"sort-{key}",
        white_space="nowrap",
    )


def _tx_row(row: ObjectVar[TransactionListRow]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.link(rx.code(row.reference, size="1"), href=row.href),
        ),
        rx.table.cell(row.customer),
        rx.table.cell(
            rx.vstack(
                rx.text(row.amount),
                rx.cond(
                    row.refunded != "",
                    rx.text(row.refunded, size="1", color_scheme="gray"),
                ),
                spacing="0",
            ),
        ),
        rx.table.cell(row.provider),
        rx.table.cell(status_badge(row.status)),
        rx.table.cell(row.created),
        class_name="tx-row",
    )


def _rows_table() -> rx.Component:
    return data_table(
        (
            "Reference",
            "Customer",
            _sort_header("Amount", "amount"),
            "Provider",
            "Status",
            _sort_header("Created", "created"),
        ),
        S.rows,
        _tx_row,
        body_id="tx-body",
        size="1",
        width="100%",
        white_space="nowrap",
    )


def _table() -> rx.Component:
    return rx.box(
        wide_or_narrow(
            _rows_table(),
            stacked_payments(S.rows, time_key="created", item_class="tx-item", linked=True),
        ),
        empty_state("No payments match these filters.", S.rows, id="tx-empty"),
        width="100%",
    )


def _banner() -> rx.Component:
    return rx.cond(
        S.new_count > 0,
        rx.callout(
            rx.hstack(
                rx.text(S.new_label, " since this list was loaded.", id="new-count"),
                rx.button("Show them", size="1", on_click=S.show_new, id="new-show"),
                align="center",
                spacing="3",
            ),
            icon="bell",
            color_scheme="blue",
            size="1",
            id="new-banner",
            width="100%",
        ),
    )


def _export() -> rx.Component:
    return rx.hstack(
        rx.button(
            rx.icon("download", size=14),
            "Export CSV",
            on_click=S.start_export,
            disabled=S.exporting,
            variant="soft",
            size="2",
            id="export-csv",
        ),
        rx.cond(
            S.exporting,
            rx.hstack(
                rx.progress(value=S.export_percent, max=100, width="160px"),
                rx.text(
                    S.export_rows, " / ", S.export_total, " rows", size="1", id="export-progress"
                ),
                align="center",
                spacing="2",
            ),
        ),
        rx.cond(
            S.export_message != "",
            rx.text(S.export_message, size="1", color_scheme="gray", id="export-message"),
        ),
        align="center",
        spacing="3",
    )


@template(route="/transactions", title="Transactions", on_load=[S.load])
def transactions_page() -> rx.Component:
    return rx.vstack(
        rx.card(
            rx.vstack(transaction_filters(), saved_views(), spacing="3", width="100%"), width="100%"
        ),
        _banner(),
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.text(S.total_label, size="2", weight="medium", id="tx-total"),
                    rx.cond(
                        S.live,
                        rx.badge("Live", color_scheme="green", id="tx-live"),
                        rx.badge("Paused", color_scheme="gray"),
                    ),
                    rx.spacer(),
                    _export(),
                    width="100%",
                    align="center",
                    wrap="wrap",
                ),
                _table(),
                rx.hstack(
                    rx.button(
                        "Previous",
                        on_click=S.previous_page,
                        disabled=~S.has_previous,
                        variant="soft",
                        size="1",
                        id="page-previous",
                    ),
                    rx.button(
                        "Next",
                        on_click=S.next_page,
                        disabled=~S.has_next,
                        variant="soft",
                        size="1",
                        id="page-next",
                    ),
                    justify="end",
                    width="100%",
                ),
                spacing="3",
                width="100%",
            ),
            width="100%",
        ),
        spacing="4",
        width="100%",
    )

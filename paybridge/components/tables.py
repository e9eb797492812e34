"""Tables of rows from a state list, and what a list shows when it has no rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import reflex as rx
from reflex.components.radix.themes.components.table import TableColumnHeaderCell

from paybridge.components.cards import ONE_LINE, status_badge


def data_table(
    headers: Sequence[str | rx.Component],
    rows: rx.Var,
    row: Callable[[Any], rx.Component],
    *,
    body_id: str | None = None,
    **props,
) -> rx.Component:
    """A header row, then `row(item)` for each item of `rows`; `props` go to the table. A
    header is a text or component to put in a header cell, or a header cell of its own (one
    with a click handler, say)."""
    body_props = {"id": body_id} if body_id else {}
    cells = [
        h if isinstance(h, TableColumnHeaderCell) else rx.table.column_header_cell(h)
        for h in headers
    ]
    return rx.table.root(
        rx.table.header(rx.table.row(*cells)),
        rx.table.body(rx.foreach(rows, row), **body_props),
        **props,
    )


def empty_state(text: str | rx.Var, rows: rx.Var | None = None, **props) -> rx.Component:
    """The grey line a list shows instead of rows; with `rows`, shown only while it is empty."""
    line = rx.text(text, size="2", color_scheme="gray", **props)
    return line if rows is None else rx.cond(rows.length() == 0, line)


def stacked_payments(
    rows: rx.Var,
    *,
    time_key: str,
    item_class: str,
    linked: bool = False,
    refunded: bool = True,
    **props,
) -> rx.Component:
    """Payments as stacked rows, for a phone where their table does not fit: amount, refunded
    part and status first, then customer and the row's `time_key`, then provider and reference.
    A `linked` row is a link to `row.href` and shows the reference as plain text in the
    link's colour; otherwise it shows it as code. Rows without a `refunded` note (the
    dashboard's `RecentRow`) pass `refunded=False`. `props` go to the list."""
    edge = {
        "width": "100%",
        "padding_y": "8px",
        "border_bottom": f"1px solid {rx.color('gray', 4)}",
    }

    def item(row: rx.Var) -> rx.Component:
        reference = (
            row.reference
            if linked
            else rx.code(row.reference, size="1", variant="ghost", color_scheme="gray")
        )
        lines = rx.vstack(
            rx.hstack(
                rx.text(row.amount, size="3", weight="bold"),
                *([rx.text(row.refunded, size="1", color_scheme="gray")] if refunded else []),
                rx.spacer(),
                status_badge(row.status),
                width="100%",
                align="center",
            ),
            rx.hstack(
                rx.text(row.customer, size="2", **ONE_LINE),
                rx.text(
                    getattr(row, time_key), size="1", color_scheme="gray", white_space="nowrap"
                ),
                width="100%",
                align="center",
                justify="between",
            ),
            rx.text(
                row.provider,
                " · ",
                reference,
                size="1",
                color_scheme="gray",
                width="100%",
                **ONE_LINE,
            ),
            spacing="1",
            **({"width": "100%"} if linked else {**edge, "class_name": item_class}),
        )
        if not linked:
            return lines
        return rx.link(
            lines,
            href=row.href,
            underline="none",
            color_scheme="gray",
            high_contrast=True,
            class_name=item_class,
            **edge,
        )

    return rx.vstack(rx.foreach(rows, item), spacing="0", width="100%", **props)

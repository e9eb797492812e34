"""Tables of rows from a state list, and what a list shows when it has no rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import reflex as rx
from reflex.components.radix.themes.components.table import TableColumnHeaderCell


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

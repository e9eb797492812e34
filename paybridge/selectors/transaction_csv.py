"""A merchant's payments as CSV lines written by PostgreSQL itself: the export's fast path
(`exports/transactions.py`), byte for byte what `exports/cells.py` writes in Python."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from paybridge.db import read_session
from paybridge.display import FORMULA_START
from paybridge.models import Provider, Transaction
from paybridge.money import CURRENCY_EXPONENTS
from paybridge.selectors.pagination import beyond
from paybridge.selectors.transactions import TransactionFilters, filter_conditions, sort_order


def csv_lines_postgresql(
    *, merchant_id: int, filters: TransactionFilters, sort: str, tz: str, batch_size: int
) -> Iterator[tuple[str, int]]:
    """(CSV lines, how many) per keyset batch, each line written by PostgreSQL (the query
    returns the line, then the sort key and the id for the next batch's keyset condition)."""
    order, descending = sort_order(sort)
    direction = (lambda c: c.desc()) if descending else (lambda c: c.asc())
    key: Any = order[0]
    if key is Transaction.created_at:  # the cursor needs no UTCDateTime conversion per row
        key = sa.type_coerce(key, sa.DateTime(timezone=True))
    query = (
        select(_pg_line(), key, Transaction.id)
        .join(Provider, col(Provider.id) == col(Transaction.provider_id))
        .where(*filter_conditions(merchant_id, filters))
        .order_by(*(direction(c) for c in order))
        .limit(batch_size)
    )
    cursor: tuple | None = None
    while True:
        batch_query = query
        if cursor is not None:
            batch_query = query.where(beyond(order, cursor, greater=not descending))
        with read_session(transaction=True) as session:
            connection = session.connection()
            # to_char's local time and TZH:TZM follow the session's TimeZone; `true` limits
            # the setting to this read's transaction.
            connection.execute(sa.select(sa.func.set_config("TimeZone", tz, True)))
            rows = connection.execute(batch_query).all()
        if not rows:
            return
        yield "".join([row[0] for row in rows]), len(rows)
        if len(rows) < batch_size:
            return
        cursor = (rows[-1][1], rows[-1][2])


def _pg_line() -> Any:
    """One CSV line (with its CRLF) as a PostgreSQL expression: the same cells, quoting and
    formula guard as the Python path."""

    def local_time(column: Any) -> Any:
        return sa.func.to_char(column, 'YYYY-MM-DD"T"HH24:MI:SSTZH:TZM')

    by_exponent: dict[int, list[str]] = {}
    for code, exp in CURRENCY_EXPONENTS.items():
        by_exponent.setdefault(exp, []).append(code)

    def money(column: Any) -> Any:
        """Minor units times 10^-exp as numeric: its text has exactly `exp` decimals
        (PostgreSQL gives a product the sum of its factors' scales)."""

        def scaled(exp: int) -> Any:
            if exp == 0:
                return sa.cast(column, sa.Text)
            factor: Any = sa.literal_column("0." + "0" * (exp - 1) + "1")
            return sa.cast(sa.cast(column, sa.Numeric) * factor, sa.Text)

        others = [  # codes are 3 letters: a match in the space-separated list is a whole code
            (sa.func.strpos(" ".join(sorted(codes)), Transaction.currency) > 0, scaled(exp))
            for exp, codes in sorted(by_exponent.items())
            if exp != 2
        ]
        return sa.case(*others, else_=scaled(2))

    def text(column: Any) -> Any:
        """Formula guard, then csv's minimal quoting (a comma, quote, CR or LF)."""
        guarded = sa.case(
            (sa.func.left(column, 1).in_(sorted(FORMULA_START)), sa.literal("'") + column),
            else_=column,
        )
        return sa.case(  # the guard's apostrophe never needs quoting: test the raw value
            (
                column.regexp_match('[,"\r\n]'),
                '"' + sa.func.replace(guarded, '"', '""') + '"',
            ),
            else_=guarded,
        )

    cells = [
        text(Transaction.reference),
        local_time(Transaction.created_at),
        local_time(Transaction.updated_at),
        Transaction.status,
        Transaction.currency,
        money(Transaction.amount),
        money(Transaction.fee),
        money(Transaction.net_amount),
        money(Transaction.refunded_amount),
        Provider.code,
        text(Transaction.customer_email),
    ]
    return sa.func.concat_ws(",", *cells) + "\r\n"

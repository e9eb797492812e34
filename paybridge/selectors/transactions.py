"""Payments, one at a time and as filtered cursor pages — for the API and the dashboard's
transactions page alike — plus the counts and the batched read the page and the CSV export use.

Pages are ordered by one sort key (created_at or amount, either direction) with the id as the
tie-breaker, and paged by keyset conditions on (key, id), so a page never shifts while new
payments arrive. `TransactionFilters.snapshot_id` freezes a listing at the newest id a client
has seen: the transactions page counts what arrived after it instead of letting rows jump.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, select

from paybridge.db import read_session
from paybridge.errors import DomainError
from paybridge.models import Provider, Transaction, TransactionRecord
from paybridge.models.transaction import RECORD_COLUMNS
from paybridge.selectors.pagination import (
    Page,
    PageRequest,
    beyond,
    invalid_cursor,
    keyset_page,
)

# sort name -> (key, descending)
SORTS: dict[str, tuple[str, bool]] = {
    "created_desc": ("created", True),
    "created_asc": ("created", False),
    "amount_desc": ("amount", True),
    "amount_asc": ("amount", False),
}
_SORT_COLUMNS: dict[str, Mapped[Any]] = {
    "created": col(Transaction.created_at),
    "amount": col(Transaction.amount),
}


@dataclass(frozen=True)
class TransactionFilters:
    """Every field optional; all given ones must match. Created range is [gte, lt), amount
    range [gte, lte] in minor units."""

    status: str | None = None
    provider: str | None = None  # provider code
    currency: str | None = None
    customer_email: str | None = None  # exact, case-insensitive (emails are stored lower-case)
    created_gte: datetime | None = None
    created_lt: datetime | None = None
    search: str | None = None  # prefix of the reference or the customer email, any case
    amount_gte: int | None = None
    amount_lte: int | None = None
    snapshot_id: int | None = None  # only payments with id <= this one (a frozen listing)


def payment_rows(merchant_id: int | sa.BindParameter[Any]) -> sa.Select[Any]:
    """The merchant's payments with their provider's code and name, as `as_record` reads them:
    the record's columns, not `Transaction` objects (building those was a fifth of a live
    dashboard's read)."""
    return (
        sa.select(
            *(getattr(Transaction, name) for name in RECORD_COLUMNS),
            col(Provider.code).label("provider_code"),
            col(Provider.display_name).label("provider_name"),
        )
        .join(Provider, col(Provider.id) == col(Transaction.provider_id))
        .where(col(Transaction.merchant_id) == merchant_id)
    )


def as_record(row: sa.Row[Any]) -> TransactionRecord:
    return TransactionRecord.from_row(
        row, provider_code=row.provider_code, provider_name=row.provider_name
    )


def like_prefix(text: str) -> str:
    """A LIKE pattern matching strings that start with `text` (wildcards in it escaped)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def filter_conditions(
    merchant_id: int, filters: TransactionFilters | None
) -> list[sa.ColumnElement[bool]]:
    """WHERE terms on the transactions table alone (the provider through a subquery)."""
    f = filters or TransactionFilters()
    terms: list[sa.ColumnElement[bool]] = [col(Transaction.merchant_id) == merchant_id]
    if f.status is not None:
        terms.append(col(Transaction.status) == f.status)
    if f.provider is not None:
        terms.append(
            col(Transaction.provider_id)
            == select(Provider.id).where(col(Provider.code) == f.provider).scalar_subquery()
        )
    if f.currency is not None:
        terms.append(col(Transaction.currency) == f.currency.upper())
    if f.customer_email is not None:
        terms.append(col(Transaction.customer_email) == f.customer_email.strip().lower())
    if f.created_gte is not None:
        terms.append(col(Transaction.created_at) >= f.created_gte)
    if f.created_lt is not None:
        terms.append(col(Transaction.created_at) < f.created_lt)
    if f.search:
        pattern = like_prefix(f.search.strip().lower())
        terms.append(
            sa.or_(
                sa.func.lower(Transaction.reference).like(pattern, escape="\\"),
                col(Transaction.customer_email).like(pattern, escape="\\"),
            )
        )
    if f.amount_gte is not None:
        terms.append(col(Transaction.amount) >= f.amount_gte)
    if f.amount_lte is not None:
        terms.append(col(Transaction.amount) <= f.amount_lte)
    if f.snapshot_id is not None:
        terms.append(col(Transaction.id) <= f.snapshot_id)
    return terms


def sort_order(sort: str) -> tuple[tuple[Mapped[Any], Mapped[Any]], bool]:
    """((key column, id), descending) of a sort name from SORTS."""
    if sort not in SORTS:
        raise DomainError("invalid_request", f"Unknown sort: {sort!r}.", param="sort")
    key, descending = SORTS[sort]
    return (_SORT_COLUMNS[key], col(Transaction.id)), descending


def transaction_get(
    *, session: Session, merchant_id: int, reference: str
) -> TransactionRecord | None:
    """The merchant's payment with this reference (None for another merchant's)."""
    row = session.execute(
        payment_rows(merchant_id).where(col(Transaction.reference) == reference)
    ).first()
    return None if row is None else as_record(row)


def transactions_page(
    *,
    session: Session,
    merchant_id: int,
    page: PageRequest,
    filters: TransactionFilters | None = None,
    sort: str = "created_desc",
) -> Page[TransactionRecord]:
    """One page of the merchant's payments in `sort` order (newest first by default);
    cursors are references."""
    order, descending = sort_order(sort)
    query = payment_rows(merchant_id).where(*filter_conditions(merchant_id, filters))
    cursor_values = None
    if page.cursor is not None:
        cursor_values = session.exec(
            select(*order).where(
                col(Transaction.merchant_id) == merchant_id,
                col(Transaction.reference) == page.cursor,
            )
        ).first()
        if cursor_values is None:
            raise invalid_cursor(page)
    rows, has_more = keyset_page(
        session,
        query,
        order=order,
        cursor_values=cursor_values,
        page=page,
        descending=descending,
    )
    return Page(data=[as_record(r) for r in rows], has_more=has_more)


def transactions_count(
    *,
    session: Session,
    merchant_id: int,
    filters: TransactionFilters | None = None,
    after_id: int | None = None,
    limit: int | None = None,
) -> int:
    """How many payments match (only those with id > after_id when given), counting at most
    `limit` of them when given."""
    terms = filter_conditions(merchant_id, filters)
    if after_id is not None:
        terms.append(col(Transaction.id) > after_id)
    inner = select(Transaction.id).where(*terms)
    if limit is not None:
        inner = inner.limit(limit)
    return int(session.exec(select(sa.func.count()).select_from(inner.subquery())).one())


def latest_transaction_id(*, session: Session) -> int:
    """The highest payment id so far (of any merchant): a snapshot bound for a listing."""
    highest = session.exec(select(sa.func.max(col(Transaction.id)))).one()
    return 0 if highest is None else int(highest)


EXPORT_NAMES = (
    "id",
    "reference",
    "created_at",
    "updated_at",
    "status",
    "amount",
    "currency",
    "fee",
    "net_amount",
    "refunded_amount",
    "provider_id",
    "customer_email",
)
EXPORT_COLUMNS: tuple[Mapped[Any], ...] = tuple(col(getattr(Transaction, n)) for n in EXPORT_NAMES)
# A row of EXPORT_COLUMNS, in that order.
ExportRow = sa.Row[int, str, datetime, datetime, str, int, str, int, int, int, int, str]


def transaction_batches(
    *,
    merchant_id: int,
    filters: TransactionFilters | None = None,
    sort: str = "created_desc",
    batch_size: int = 5000,
) -> Iterator[Sequence[ExportRow]]:
    """Every matching payment in `sort` order, as lists of rows (tuples of EXPORT_COLUMNS).

    Each batch is one short keyset query in its own read session, so a slow reader (a CSV
    download) holds no connection or transaction between batches and memory stays at one
    batch. Pin `filters.snapshot_id` to leave out payments created while reading. Rows come
    through SQLAlchemy Core, not the ORM (about three times less work per row).
    """
    order, descending = sort_order(sort)
    key_index = 2 if order[0] is Transaction.created_at else 5  # position in EXPORT_COLUMNS
    direction = (lambda c: c.desc()) if descending else (lambda c: c.asc())
    cursor: tuple | None = None
    query = None
    while True:
        with read_session() as session:
            connection = session.connection()
            if query is None:
                query = (
                    select(*_export_columns(connection.dialect.name))
                    .where(*filter_conditions(merchant_id, filters))
                    .order_by(*(direction(c) for c in order))
                    .limit(batch_size)
                )
            batch_query = query
            if cursor is not None:
                batch_query = query.where(beyond(order, cursor, greater=not descending))
            rows = connection.execute(batch_query).all()
        if not rows:
            return
        yield rows
        if len(rows) < batch_size:
            return
        last = rows[-1]
        cursor = (last[key_index], last[0])


def _export_columns(dialect: str) -> tuple[Any, ...]:
    """EXPORT_COLUMNS; on PostgreSQL the timestamps skip UTCDateTime's per-row conversion,
    since psycopg already returns aware datetimes for timestamptz."""
    if dialect != "postgresql":
        return EXPORT_COLUMNS
    aware = sa.DateTime(timezone=True)
    return tuple(
        sa.type_coerce(c, aware).label(name) if name in ("created_at", "updated_at") else c
        for name, c in zip(EXPORT_NAMES, EXPORT_COLUMNS, strict=True)
    )


def merchant_has_payments(*, session: Session, merchant_id: int) -> bool:
    """Has the merchant any payment at all (one indexed row, not a count)?"""
    found = session.exec(select(Transaction.id).where(Transaction.merchant_id == merchant_id))
    return found.first() is not None

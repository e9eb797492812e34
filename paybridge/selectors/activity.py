"""Recent payments and the event feed."""

from __future__ import annotations

from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from paybridge.models import Event, Transaction, TransactionRecord
from paybridge.selectors.transactions import as_record, payment_rows


def recent_transactions(
    *, session: Session, merchant_id: int, limit: int = 10, currency: str | None = None
) -> list[TransactionRecord]:
    """Newest first, by the (merchant_id, created_at, id) index."""
    rows = session.connection().execute(
        _recent_payments(by_currency=currency is not None),
        {"merchant_id": merchant_id, "limit": limit, "currency": currency},
    )
    return [as_record(row) for row in rows]


def recent_events(
    *, session: Session, merchant_id: int, limit: int = 20, exclude: frozenset[str] = frozenset()
) -> list[sa.Row[Any]]:
    """Newest first: the activity feed's first lines, without the event types in `exclude`.
    Plain rows with the event's columns, not ORM objects: building twenty `Event` instances was
    a quarter of a live dashboard's read."""
    rows = session.connection().execute(
        _recent_events(exclude), {"merchant_id": merchant_id, "limit": limit}
    )
    return list(rows.all())


# These two run on every live dashboard's read: built once, and run on the session's Core
# connection, since building them and the ORM's execute path cost as much as the statements.
@cache
def _recent_payments(*, by_currency: bool) -> sa.Select[Any]:
    query = payment_rows(sa.bindparam("merchant_id"))
    if by_currency:
        query = query.where(col(Transaction.currency) == sa.bindparam("currency"))
    return query.order_by(col(Transaction.created_at).desc(), col(Transaction.id).desc()).limit(
        sa.bindparam("limit", type_=sa.Integer)
    )


@cache
def _recent_events(exclude: frozenset[str]) -> sa.Select[Any]:
    query = sa.select(*_EVENT_COLUMNS).where(col(Event.merchant_id) == sa.bindparam("merchant_id"))
    if exclude:
        query = query.where(col(Event.type).not_in(sorted(exclude)))
    return query.order_by(col(Event.id).desc()).limit(sa.bindparam("limit", type_=sa.Integer))


_EVENT_COLUMNS = (
    col(Event.id),
    col(Event.merchant_id),
    col(Event.type),
    col(Event.payload),
    col(Event.created_at),
)


def newest_event_id(connection: sa.Connection, *, merchant_id: int) -> int | None:
    """The merchant's newest outbox id (one probe of `ix_events_merchant_id`): a live dashboard's
    reconcile reads the page again only when it moved."""
    return connection.execute(_NEWEST_EVENT, {"merchant_id": merchant_id}).scalar()


_NEWEST_EVENT = sa.select(sa.func.max(col(Event.id))).where(
    col(Event.merchant_id) == sa.bindparam("merchant_id")
)

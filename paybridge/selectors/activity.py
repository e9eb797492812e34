"""Recent payments and the event feed."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from paybridge.models import Event, Transaction, TransactionRecord
from paybridge.selectors.transactions import as_record, payment_rows


def recent_transactions(
    *, session: Session, merchant_id: int, limit: int = 10, currency: str | None = None
) -> list[TransactionRecord]:
    """Newest first, by the (merchant_id, created_at, id) index."""
    query = payment_rows(merchant_id)
    if currency is not None:
        query = query.where(col(Transaction.currency) == currency)
    rows = session.execute(
        query.order_by(col(Transaction.created_at).desc(), col(Transaction.id).desc()).limit(limit)
    ).all()
    return [as_record(row) for row in rows]


def recent_events(
    *, session: Session, merchant_id: int, limit: int = 20, exclude: frozenset[str] = frozenset()
) -> list[sa.Row[Any]]:
    """Newest first: the activity feed's first lines, without the event types in `exclude`.
    Plain rows with the event's columns, not ORM objects: building twenty `Event` instances was
    a quarter of a live dashboard's read."""
    query = sa.select(*_EVENT_COLUMNS).where(col(Event.merchant_id) == merchant_id)
    if exclude:
        query = query.where(col(Event.type).not_in(sorted(exclude)))
    return list(session.execute(query.order_by(col(Event.id).desc()).limit(limit)).all())


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

"""Recent payments and the event feed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from paybridge.models import Event, Provider, Transaction


@dataclass(frozen=True)
class TransactionRow:
    reference: str
    customer_email: str
    amount: int
    currency: str
    fee: int
    net_amount: int
    provider_code: str
    provider_name: str
    status: str
    created_at: datetime


def recent_transactions(
    *, session: Session, merchant_id: int, limit: int = 10, currency: str | None = None
) -> list[TransactionRow]:
    """Newest first, by the (merchant_id, created_at, id) index."""
    query = (
        select(Transaction, Provider.code, Provider.display_name)
        .join(Provider, col(Provider.id) == col(Transaction.provider_id))
        .where(col(Transaction.merchant_id) == merchant_id)
    )
    if currency is not None:
        query = query.where(col(Transaction.currency) == currency)
    rows = session.exec(
        query.order_by(col(Transaction.created_at).desc(), col(Transaction.id).desc()).limit(limit)
    ).all()
    return [
        TransactionRow(
            reference=tx.reference,
            customer_email=tx.customer_email,
            amount=tx.amount,
            currency=tx.currency,
            fee=tx.fee,
            net_amount=tx.net_amount,
            provider_code=code,
            provider_name=name,
            status=tx.status,
            created_at=tx.created_at,
        )
        for tx, code, name in rows
    ]


def recent_events(
    *, session: Session, merchant_id: int, limit: int = 20, exclude: frozenset[str] = frozenset()
) -> list[Event]:
    """Newest first: the activity feed's first lines, without the event types in `exclude`."""
    query = select(Event).where(col(Event.merchant_id) == merchant_id)
    if exclude:
        query = query.where(col(Event.type).not_in(sorted(exclude)))
    return list(session.exec(query.order_by(col(Event.id).desc()).limit(limit)).all())

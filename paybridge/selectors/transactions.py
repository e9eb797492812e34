"""Payments, one at a time and as filtered cursor pages (newest first) — for the API and the
dashboard's transactions page alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from paybridge.models import Provider, Transaction
from paybridge.selectors.pagination import Page, PageRequest, invalid_cursor, keyset_page


@dataclass(frozen=True)
class TransactionRecord:
    reference: str
    amount: int
    currency: str
    status: str
    provider_code: str
    provider_name: str
    customer_email: str
    fee: int
    net_amount: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TransactionFilters:
    """Every field optional; all given ones must match. Created range is [gte, lt)."""

    status: str | None = None
    provider: str | None = None  # provider code
    currency: str | None = None
    customer_email: str | None = None  # exact, case-insensitive (emails are stored lower-case)
    created_gte: datetime | None = None
    created_lt: datetime | None = None


def _base(merchant_id: int):  # type: ignore[no-untyped-def]
    return (
        select(Transaction, Provider.code, Provider.display_name)
        .join(Provider, Provider.id == Transaction.provider_id)
        .where(Transaction.merchant_id == merchant_id)
    )


def _record(row) -> TransactionRecord:  # type: ignore[no-untyped-def]
    tx, code, name = row
    return TransactionRecord(
        reference=tx.reference,
        amount=tx.amount,
        currency=tx.currency,
        status=tx.status,
        provider_code=code,
        provider_name=name,
        customer_email=tx.customer_email,
        fee=tx.fee,
        net_amount=tx.net_amount,
        created_at=tx.created_at,
        updated_at=tx.updated_at,
    )


def transaction_get(
    *, session: Session, merchant_id: int, reference: str
) -> TransactionRecord | None:
    """The merchant's payment with this reference (None for another merchant's)."""
    row = session.exec(_base(merchant_id).where(Transaction.reference == reference)).first()
    return None if row is None else _record(row)


def transactions_page(
    *,
    session: Session,
    merchant_id: int,
    page: PageRequest,
    filters: TransactionFilters | None = None,
) -> Page[TransactionRecord]:
    """One page of the merchant's payments, newest first; cursors are references."""
    f = filters or TransactionFilters()
    query = _base(merchant_id)
    if f.status is not None:
        query = query.where(Transaction.status == f.status)
    if f.provider is not None:
        query = query.where(Provider.code == f.provider)
    if f.currency is not None:
        query = query.where(Transaction.currency == f.currency.upper())
    if f.customer_email is not None:
        query = query.where(Transaction.customer_email == f.customer_email.strip().lower())
    if f.created_gte is not None:
        query = query.where(Transaction.created_at >= f.created_gte)
    if f.created_lt is not None:
        query = query.where(Transaction.created_at < f.created_lt)
    cursor_values = None
    if page.cursor is not None:
        cursor_values = session.exec(
            select(Transaction.created_at, Transaction.id).where(
                Transaction.merchant_id == merchant_id, Transaction.reference == page.cursor
            )
        ).first()
        if cursor_values is None:
            raise invalid_cursor(page)
    rows, has_more = keyset_page(
        session,
        query,
        order=(Transaction.created_at, Transaction.id),
        cursor_values=cursor_values,
        page=page,
    )
    return Page(data=[_record(r) for r in rows], has_more=has_more)

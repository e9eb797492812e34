"""Payouts as filtered cursor pages, newest first (cursors are settlement references)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from paybridge.models import Settlement
from paybridge.selectors.pagination import Page, PageRequest, invalid_cursor, keyset_page


@dataclass(frozen=True)
class SettlementFilters:
    status: str | None = None
    currency: str | None = None
    created_gte: datetime | None = None
    created_lt: datetime | None = None


def settlement_get(*, session: Session, merchant_id: int, reference: str) -> Settlement | None:
    return session.exec(
        select(Settlement).where(
            Settlement.merchant_id == merchant_id, Settlement.reference == reference
        )
    ).first()


def settlements_page(
    *,
    session: Session,
    merchant_id: int,
    page: PageRequest,
    filters: SettlementFilters | None = None,
) -> Page[Settlement]:
    f = filters or SettlementFilters()
    query = select(Settlement).where(Settlement.merchant_id == merchant_id)
    if f.status is not None:
        query = query.where(Settlement.status == f.status)
    if f.currency is not None:
        query = query.where(Settlement.currency == f.currency.upper())
    if f.created_gte is not None:
        query = query.where(Settlement.created_at >= f.created_gte)
    if f.created_lt is not None:
        query = query.where(Settlement.created_at < f.created_lt)
    cursor_values = None
    if page.cursor is not None:
        cursor_values = session.exec(
            select(Settlement.created_at, Settlement.id).where(
                Settlement.merchant_id == merchant_id, Settlement.reference == page.cursor
            )
        ).first()
        if cursor_values is None:
            raise invalid_cursor(page)
    rows, has_more = keyset_page(
        session,
        query,
        order=(Settlement.created_at, Settlement.id),
        cursor_values=cursor_values,
        page=page,
    )
    return Page(data=rows, has_more=has_more)

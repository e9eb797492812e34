"""The merchant's outbox events as cursor pages, and the catch-up read of live subscribers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from paybridge.models import Event
from paybridge.selectors.id_pages import id_page
from paybridge.selectors.pagination import Page, PageRequest


@dataclass(frozen=True)
class EventFilters:
    type: str | None = None
    created_gte: datetime | None = None
    created_lt: datetime | None = None


def events_page(
    *, session: Session, merchant_id: int, page: PageRequest, filters: EventFilters | None = None
) -> Page[Event]:
    f = filters or EventFilters()
    where: list[sa.ColumnElement[bool]] = []
    if f.type is not None:
        where.append(col(Event.type) == f.type)
    if f.created_gte is not None:
        where.append(col(Event.created_at) >= f.created_gte)
    if f.created_lt is not None:
        where.append(col(Event.created_at) < f.created_lt)
    return id_page(session, Event, merchant_id=merchant_id, page=page, where=tuple(where))


def events_after(
    *, session: Session, merchant_id: int, after_id: int, up_to: int | None = None, limit: int = 500
) -> list[Event]:
    """Oldest first: what a subscriber that has seen up to `after_id` missed (up to `up_to`)."""
    query = select(Event).where(col(Event.merchant_id) == merchant_id, col(Event.id) > after_id)
    if up_to is not None:
        query = query.where(col(Event.id) <= up_to)
    return list(session.exec(query.order_by(col(Event.id)).limit(limit)).all())

"""Cursor pages of rows whose integer id only grows (newest first by id): the event feed, the
API request log, webhooks, API keys and the audit log. The cursor is the row's id as text."""

from __future__ import annotations

from typing import TypeVar

import sqlalchemy as sa
from sqlmodel import Session, col, select

from paybridge.models import ApiKey, ApiLog, AuditEntry, Event, Webhook
from paybridge.selectors.pagination import Page, PageRequest, invalid_cursor, keyset_page

# The tables paged this way: each has a growing integer `id` and a `merchant_id`.
IdPaged = TypeVar("IdPaged", ApiKey, ApiLog, AuditEntry, Event, Webhook)


def id_page(
    session: Session,
    model: type[IdPaged],
    *,
    merchant_id: int,
    page: PageRequest,
    where: tuple[sa.ColumnElement[bool], ...] = (),
) -> Page[IdPaged]:
    """One page of `model` rows of the merchant (filtered by `where`), newest first."""
    id_column = col(model.id)
    query = select(model).where(col(model.merchant_id) == merchant_id, *where)
    cursor_values = None
    if page.cursor is not None:
        cursor_id = _as_id(page.cursor)
        owned = (
            cursor_id is not None
            and session.exec(
                select(id_column).where(
                    id_column == cursor_id, col(model.merchant_id) == merchant_id
                )
            ).first()
            is not None
        )
        if not owned:
            raise invalid_cursor(page)
        cursor_values = (cursor_id,)
    rows, has_more = keyset_page(
        session, query, order=(id_column,), cursor_values=cursor_values, page=page
    )
    return Page(data=rows, has_more=has_more)


def _as_id(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) < 2**63 else None

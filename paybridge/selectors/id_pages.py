"""Cursor pages of rows whose integer id only grows (newest first by id): the event feed, the
API request log, webhooks and API keys. The cursor is the row's id as text."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from paybridge.selectors.pagination import Page, PageRequest, invalid_cursor, keyset_page


def id_page(
    session: Session, model: type, *, merchant_id: int, page: PageRequest, where: tuple = ()
) -> Page[Any]:
    """One page of `model` rows of the merchant (filtered by `where`), newest first."""
    id_column = model.id
    query = select(model).where(model.merchant_id == merchant_id, *where)
    cursor_values = None
    if page.cursor is not None:
        cursor_id = _as_id(page.cursor)
        owned = (
            cursor_id is not None
            and session.exec(
                select(id_column).where(id_column == cursor_id, model.merchant_id == merchant_id)
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

"""Saved views of the transactions page: a merchant's named query strings."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from paybridge.db import write_session
from paybridge.errors import DomainError
from paybridge.models import SavedView
from paybridge.transaction_query import parse_query_string
from paybridge.validation import clean_text

MAX_VIEWS = 50


def saved_view_create(*, merchant_id: int, name: object, query: object) -> SavedView:
    """Save `query` (a /transactions query string, validated and stored canonical) as `name`."""
    label = clean_text(name, param="name", max_length=60)
    canonical = parse_query_string(query).to_query_string()
    with write_session() as session:
        count = session.exec(
            select(sa.func.count())
            .select_from(SavedView)
            .where(col(SavedView.merchant_id) == merchant_id)
        ).one()
        if count >= MAX_VIEWS:
            raise DomainError(
                "too_many_views", f"Keep at most {MAX_VIEWS} saved views; delete one first."
            )
        view = SavedView(merchant_id=merchant_id, name=label, query=canonical)
        session.add(view)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            raise DomainError(
                "duplicate_name", f"A view named {label!r} exists.", param="name"
            ) from None
        return view


def saved_view_delete(*, merchant_id: int, view_id: object) -> None:
    if isinstance(view_id, bool) or not isinstance(view_id, int) or not 0 < view_id < 2**31:
        raise DomainError("not_found", "No such view.", param="id")
    with write_session() as session:
        view = session.exec(
            select(SavedView).where(
                col(SavedView.id) == view_id, col(SavedView.merchant_id) == merchant_id
            )
        ).first()
        if view is None:
            raise DomainError("not_found", "No such view.", param="id")
        session.delete(view)
        session.commit()

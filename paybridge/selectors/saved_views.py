"""A merchant's saved views of the transactions page, by name."""

from __future__ import annotations

from sqlmodel import Session, col, select

from paybridge.models import SavedView


def saved_views(*, session: Session, merchant_id: int) -> list[SavedView]:
    return list(
        session.exec(
            select(SavedView)
            .where(SavedView.merchant_id == merchant_id)
            .order_by(col(SavedView.name), col(SavedView.id))
        ).all()
    )


def saved_view_get(*, session: Session, merchant_id: int, view_id: int) -> SavedView | None:
    return session.exec(
        select(SavedView).where(SavedView.id == view_id, SavedView.merchant_id == merchant_id)
    ).first()

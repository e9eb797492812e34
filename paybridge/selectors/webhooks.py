"""The merchant's webhook endpoints."""

from __future__ import annotations

from sqlmodel import Session, col, select

from paybridge.models import Webhook
from paybridge.selectors.id_pages import id_page
from paybridge.selectors.pagination import Page, PageRequest
from paybridge.validation import is_row_id


def webhook_get(*, session: Session, merchant_id: int, webhook_id: int) -> Webhook | None:
    """The merchant's endpoint with this id (None for another merchant's)."""
    if not is_row_id(webhook_id):
        return None
    return session.exec(
        select(Webhook).where(Webhook.id == webhook_id, Webhook.merchant_id == merchant_id)
    ).first()


def webhooks_page(
    *, session: Session, merchant_id: int, page: PageRequest, is_active: bool | None = None
) -> Page[Webhook]:
    where = () if is_active is None else (col(Webhook.is_active) == is_active,)
    return id_page(session, Webhook, merchant_id=merchant_id, page=page, where=where)

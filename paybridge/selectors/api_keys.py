"""The merchant's API keys (never their secrets, which are not stored)."""

from __future__ import annotations

from sqlmodel import Session, col

from paybridge.models import ApiKey
from paybridge.selectors.id_pages import id_page
from paybridge.selectors.pagination import Page, PageRequest


def api_keys_page(
    *, session: Session, merchant_id: int, page: PageRequest, include_revoked: bool = False
) -> Page[ApiKey]:
    where = () if include_revoked else (col(ApiKey.revoked_at).is_(None),)
    return id_page(session, ApiKey, merchant_id=merchant_id, page=page, where=where)


def api_key_get(*, session: Session, key_id: int | None) -> ApiKey | None:
    """The key by id, revoked or not (callers check `revoked_at`)."""
    return session.get(ApiKey, key_id) if key_id is not None else None

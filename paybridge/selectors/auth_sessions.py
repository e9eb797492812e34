"""Login sessions (web and API) by id, and the one rule for whether one is still alive."""

from __future__ import annotations

from typing import TypeGuard

from sqlmodel import Session

from paybridge.db import utcnow
from paybridge.models import AuthSession


def auth_session_get(*, session: Session, session_id: int) -> AuthSession | None:
    return session.get(AuthSession, session_id)


def auth_session_alive(auth: AuthSession | None) -> TypeGuard[AuthSession]:
    """Not revoked (logout, password change) and not expired (so, a session)."""
    return auth is not None and auth.revoked_at is None and auth.expires_at > utcnow()

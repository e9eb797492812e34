from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from paybridge.db import UTCDateTime, utcnow


class SessionKind(StrEnum):
    WEB = "web"  # a browser, holding the token in an HttpOnly cookie
    API = "api"  # a JWT pair from /api/v1/auth/token; the tokens name this row


class AuthSession(SQLModel, table=True):
    """A login. Only hashes of its secrets are stored. A web session is born with a one-time
    ticket that the backend's login route swaps for the cookie token, so the token itself never
    travels through Reflex state."""

    __tablename__ = "auth_sessions"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", nullable=False, index=True)
    kind: str = Field(default=SessionKind.WEB.value, max_length=8)
    token_hash: str | None = Field(default=None, max_length=64, unique=True)
    ticket_hash: str | None = Field(default=None, max_length=64, unique=True)
    ticket_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    user_agent: str = Field(default="", max_length=255)
    ip_address: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginFailure(SQLModel, table=True):
    """Failed-login counters per throttle key (an email or a client address) when Redis is not
    configured."""

    __tablename__ = "login_failures"

    key: str = Field(primary_key=True, max_length=300)
    failures: int = Field(default=0)
    last_failure_at: datetime = Field(sa_type=UTCDateTime, nullable=False)

    __table_args__ = (sa.Index("ix_login_failures_last_failure_at", "last_failure_at"),)

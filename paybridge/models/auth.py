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


class ThrottleCounter(SQLModel, table=True):
    """Attempts counted per key (a login's account, client address or device; sign-ups per
    address and in total) in a fixed window, when Redis is not configured. One atomic upsert
    counts an attempt (paybridge/services/throttle.py)."""

    __tablename__ = "throttle_counters"

    key: str = Field(primary_key=True, max_length=120)
    count: int = Field(default=0)
    window_ends_at: datetime = Field(sa_type=UTCDateTime, nullable=False)

    __table_args__ = (sa.Index("ix_throttle_counters_window_ends_at", "window_ends_at"),)


class LoginOutcome(StrEnum):
    WRONG_PASSWORD = "wrong_password"  # the password was checked and was wrong
    LOCKED = "locked"  # too many attempts: sign-in from new devices paused for the window


class FailedLogin(SQLModel, table=True):
    """A failed sign-in on a known account, kept to tell its owner after they sign in. At
    most one `locked` row per throttle window, and wrong passwords only as many as the
    throttle lets through, so an attack cannot flood this table."""

    __tablename__ = "failed_logins"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", nullable=False)
    outcome: str = Field(max_length=16)
    known_device: bool = Field(default=False)  # sent a device cookie of an earlier sign-in
    ip_address: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    __table_args__ = (sa.Index("ix_failed_logins_user_id_created_at", "user_id", "created_at"),)

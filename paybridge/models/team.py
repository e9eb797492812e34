from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from paybridge.db import BigId, UTCDateTime, utcnow


class Membership(SQLModel, table=True):
    """A person's place in an account, with their role (`paybridge.permissions`).

    The account is the merchant: the `users` row whose id is `account_id` holds the company,
    payout settings and bank account, and every payment, payout, webhook and key points at it.
    Every `users` row is a person who signs in. One account per person for now (the key is the
    person); a person in several accounts would key this on (user_id, account_id)."""

    __tablename__ = "memberships"

    user_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("users.id"), primary_key=True, autoincrement=False
        )
    )
    account_id: int = Field(foreign_key="users.id", nullable=False, index=True)
    role: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Invitation(SQLModel, table=True):
    """An invitation to join an account with a role. Only the SHA-256 of its token is stored;
    the link is shown once to whoever invited. Accepting it is one conditional UPDATE, so it
    is used at most once however many accept at the same time."""

    __tablename__ = "invitations"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="users.id", nullable=False, index=True)
    email: str = Field(max_length=254)
    role: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    invited_by: int | None = Field(default=None)  # a person's id, kept if they leave
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    accepted_user_id: int | None = Field(default=None)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """Who did what, when and from where, in an account. Written in the same transaction as
    the change it records; nothing updates or deletes these rows. The actor is kept as id and
    email at the time, so the entry outlives a removed member."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    merchant_id: int = Field(foreign_key="users.id", nullable=False)  # the account
    actor_user_id: int | None = Field(default=None)
    actor_api_key_id: int | None = Field(default=None)
    actor_email: str = Field(default="", max_length=254)
    action: str = Field(max_length=40)
    target: str = Field(default="", max_length=120)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    ip_address: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)

    __table_args__ = (sa.Index("ix_audit_log_merchant_id", "merchant_id", "id"),)

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from paybridge.db import BigId, UTCDateTime, utcnow


class IdempotencyRecord(SQLModel, table=True):
    """One `Idempotency-Key` of a merchant: claimed by the first request (the unique constraint
    makes concurrent requests with the same key execute once), then holding that request's
    response for 24 hours so retries replay it."""

    __tablename__ = "idempotency_keys"

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    merchant_id: int = Field(foreign_key="users.id", nullable=False)
    key: str = Field(max_length=255)
    method: str = Field(max_length=8)
    path: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)  # SHA-256 of method, path and canonical body
    claim_token: str | None = Field(default=None, max_length=32)  # set while in progress
    claimed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    response_status: int | None = Field(default=None)
    response_body: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)

    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "key", name="uq_idempotency_keys_merchant_key"),
        sa.Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

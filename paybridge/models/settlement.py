from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from paybridge.db import UTCDateTime, utcnow


class SettlementStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


SETTLEMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    SettlementStatus.PENDING: frozenset({SettlementStatus.PROCESSING, SettlementStatus.FAILED}),
    SettlementStatus.PROCESSING: frozenset({SettlementStatus.COMPLETED, SettlementStatus.FAILED}),
    SettlementStatus.COMPLETED: frozenset(),
    SettlementStatus.FAILED: frozenset(),
}


class Settlement(SQLModel, table=True):
    """A payout to the merchant's bank. Every settlement that has not failed debits the
    available balance."""

    __tablename__ = "settlements"

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="users.id", nullable=False)
    amount: int = Field(sa_type=sa.BigInteger, nullable=False)
    currency: str = Field(max_length=3)
    status: str = Field(default=SettlementStatus.PENDING.value, max_length=16)
    reference: str = Field(max_length=64, unique=True)
    bank_account: str = Field(default="", max_length=34)  # masked, e.g. "•••• 6789"
    idempotency_key: str | None = Field(default=None, max_length=255)
    failure_reason: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    __table_args__ = (
        sa.Index("ix_settlements_merchant_created", "merchant_id", "created_at"),
        sa.UniqueConstraint(
            "merchant_id", "idempotency_key", name="uq_settlements_merchant_idempotency_key"
        ),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
    )

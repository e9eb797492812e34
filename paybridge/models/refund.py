from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from paybridge.db import BigId, UTCDateTime, utcnow


class Refund(SQLModel, table=True):
    """One refund of a payment, full or partial. The payment keeps the running totals
    (`refunded_amount`, `refunded_net`); these rows are the history and make a refund
    request with the same idempotency key happen once."""

    __tablename__ = "refunds"

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    merchant_id: int = Field(foreign_key="users.id", nullable=False)
    transaction_id: int = Field(
        sa_column=sa.Column(
            BigId, sa.ForeignKey("transactions.id", ondelete="CASCADE"), nullable=False
        )
    )
    amount: int = Field(sa_type=sa.BigInteger, nullable=False)  # minor units given back
    net: int = Field(sa_type=sa.BigInteger, nullable=False)  # what it takes from the balance
    idempotency_key: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)

    __table_args__ = (
        sa.Index("ix_refunds_transaction", "transaction_id", "id"),
        sa.UniqueConstraint(
            "merchant_id", "idempotency_key", name="uq_refunds_merchant_idempotency_key"
        ),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("net >= 0 AND net <= amount", name="net_range"),
    )

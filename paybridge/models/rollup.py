from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from paybridge.db import UTCDateTime


class HourlyRollup(SQLModel, table=True):
    """Per (merchant, UTC hour, currency, provider, status): count and sums of the transactions
    currently in that status. Kept exact by the same DB transaction that changes a payment.

    `refunded` / `refunded_net` sum the payments' refunded_amount / refunded_net: in `success`
    buckets what partial refunds gave back, in `refunded` buckets all of gross / net."""

    __tablename__ = "hourly_rollups"

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="users.id", nullable=False)
    hour: datetime = Field(sa_type=UTCDateTime, nullable=False)
    currency: str = Field(max_length=3)
    provider_id: int = Field(foreign_key="providers.id", nullable=False)
    status: str = Field(max_length=16)
    count: int = Field(default=0, sa_type=sa.BigInteger, nullable=False)
    gross: int = Field(default=0, sa_type=sa.BigInteger, nullable=False)
    fees: int = Field(default=0, sa_type=sa.BigInteger, nullable=False)
    net: int = Field(default=0, sa_type=sa.BigInteger, nullable=False)
    refunded: int = Field(
        default=0, sa_type=sa.BigInteger, nullable=False, sa_column_kwargs={"server_default": "0"}
    )
    refunded_net: int = Field(
        default=0, sa_type=sa.BigInteger, nullable=False, sa_column_kwargs={"server_default": "0"}
    )

    __table_args__ = (
        sa.UniqueConstraint(
            "merchant_id", "currency", "hour", "provider_id", "status",
            name="uq_hourly_rollups_bucket",
        ),
    )  # fmt: skip

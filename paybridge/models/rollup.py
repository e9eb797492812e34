from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from paybridge.db import UTCDateTime


class HourlyRollup(SQLModel, table=True):
    """Per (merchant, UTC hour, currency, provider, status): count and sums of the transactions
    currently in that status. Kept exact by the same DB transaction that changes a payment, as
    are the coarser and finer grains below (`services.rollups` writes all four at once).

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


class QuarterRollup(SQLModel, table=True):
    """The same buckets per UTC quarter hour. Read only where a local day starts inside an hour
    (Asia/Kolkata, Asia/Kathmandu...) and for the quarter hours just after a balance's hold
    cutoff: the hourly grain alone would put a payment at 00:10 in Kolkata on the day before."""

    __tablename__ = "quarter_rollups"

    merchant_id: int = Field(foreign_key="users.id", primary_key=True)
    currency: str = Field(max_length=3, primary_key=True)
    quarter: datetime = Field(sa_type=UTCDateTime, primary_key=True)  # :00, :15, :30 or :45 UTC
    provider_id: int = Field(foreign_key="providers.id", primary_key=True)
    status: str = Field(max_length=16, primary_key=True)
    count: int = Field(sa_type=sa.BigInteger, nullable=False)
    gross: int = Field(sa_type=sa.BigInteger, nullable=False)
    fees: int = Field(sa_type=sa.BigInteger, nullable=False)
    net: int = Field(sa_type=sa.BigInteger, nullable=False)
    refunded: int = Field(sa_type=sa.BigInteger, nullable=False)
    refunded_net: int = Field(sa_type=sa.BigInteger, nullable=False)


class DailyRollup(SQLModel, table=True):
    """The same buckets per UTC day: a period reads its whole UTC days here and only the hours
    at its edges from `hourly_rollups`."""

    __tablename__ = "daily_rollups"

    merchant_id: int = Field(foreign_key="users.id", primary_key=True)
    currency: str = Field(max_length=3, primary_key=True)
    day: date = Field(primary_key=True)  # the UTC date the payment was created on
    provider_id: int = Field(foreign_key="providers.id", primary_key=True)
    status: str = Field(max_length=16, primary_key=True)
    count: int = Field(sa_type=sa.BigInteger, nullable=False)
    gross: int = Field(sa_type=sa.BigInteger, nullable=False)
    fees: int = Field(sa_type=sa.BigInteger, nullable=False)
    net: int = Field(sa_type=sa.BigInteger, nullable=False)
    refunded: int = Field(sa_type=sa.BigInteger, nullable=False)
    refunded_net: int = Field(sa_type=sa.BigInteger, nullable=False)

    __table_args__ = (
        # Balances: the days after the hold cutoff, every currency at once.
        sa.Index("ix_daily_rollups_merchant_status_day", "merchant_id", "status", "day"),
    )


class RollupTotal(SQLModel, table=True):
    """The same buckets over all time: balances and the merchant's currencies read a few rows
    here instead of the whole history."""

    __tablename__ = "rollup_totals"

    merchant_id: int = Field(foreign_key="users.id", primary_key=True)
    currency: str = Field(max_length=3, primary_key=True)
    provider_id: int = Field(foreign_key="providers.id", primary_key=True)
    status: str = Field(max_length=16, primary_key=True)
    count: int = Field(sa_type=sa.BigInteger, nullable=False)
    gross: int = Field(sa_type=sa.BigInteger, nullable=False)
    fees: int = Field(sa_type=sa.BigInteger, nullable=False)
    net: int = Field(sa_type=sa.BigInteger, nullable=False)
    refunded: int = Field(sa_type=sa.BigInteger, nullable=False)
    refunded_net: int = Field(sa_type=sa.BigInteger, nullable=False)

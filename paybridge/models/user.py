from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from paybridge.db import UTCDateTime, utcnow


class AccountType(StrEnum):
    INDIVIDUAL = "individual"
    BUSINESS = "business"


class KycStatus(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


class PayoutSchedule(StrEnum):
    MANUAL = "manual"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class User(SQLModel, table=True):
    """A merchant account. Email is stored lower-cased, which makes the unique index
    case-insensitive on every backend."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    password_hash: str = Field(max_length=100)
    full_name: str = Field(max_length=120)
    company_name: str = Field(default="", max_length=120)
    account_type: str = Field(default=AccountType.BUSINESS.value, max_length=16)
    kyc_status: str = Field(default=KycStatus.PENDING.value, max_length=16)
    timezone: str = Field(default="UTC", max_length=64)
    # Payout settings: how long money is held, when it is paid out, and where to.
    hold_days: int | None = Field(default=None)  # None: the platform default
    payout_schedule: str = Field(default=PayoutSchedule.MANUAL.value, max_length=16)
    payout_weekday: int = Field(default=0)  # 0 = Monday, for weekly payouts
    payout_day_of_month: int = Field(default=1)  # 1-31, clamped to the month's last day
    # When the payout dates last changed: a missed payout date is caught up only if the
    # schedule was already in force on it (services/payouts.py).
    payout_schedule_since: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False
    )
    bank_name: str = Field(default="", max_length=80)
    bank_account_masked: str = Field(default="", max_length=34)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # Closed by its owner (services/account.py): nobody signs in to it again; its rows are kept.
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint("payout_weekday BETWEEN 0 AND 6", name="payout_weekday"),
        sa.CheckConstraint("payout_day_of_month BETWEEN 1 AND 31", name="payout_day_of_month"),
    )

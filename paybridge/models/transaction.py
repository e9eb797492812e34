from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from paybridge.db import BigId, UTCDateTime, utcnow


class TransactionStatus(StrEnum):
    PENDING = "pending"
    SUCCESS = "success"
    FAILED = "failed"
    REFUNDED = "refunded"


# What a new payment may start as (a refund is a change of a successful one).
CREATABLE_STATUSES = (
    TransactionStatus.PENDING,
    TransactionStatus.SUCCESS,
    TransactionStatus.FAILED,
)

# The only legal status changes; everything else is refused by the service.
TRANSITIONS: dict[str, frozenset[str]] = {
    TransactionStatus.PENDING: frozenset({TransactionStatus.SUCCESS, TransactionStatus.FAILED}),
    TransactionStatus.SUCCESS: frozenset({TransactionStatus.REFUNDED}),
    TransactionStatus.FAILED: frozenset(),
    TransactionStatus.REFUNDED: frozenset(),
}


class Transaction(SQLModel, table=True):
    __tablename__ = "transactions"

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    merchant_id: int = Field(foreign_key="users.id", nullable=False)
    reference: str = Field(max_length=64)  # unique per merchant (see __table_args__)
    amount: int = Field(sa_type=sa.BigInteger, nullable=False)
    currency: str = Field(max_length=3)
    status: str = Field(max_length=16)
    provider_id: int = Field(foreign_key="providers.id", nullable=False)
    customer_email: str = Field(max_length=254)
    fee: int = Field(sa_type=sa.BigInteger, nullable=False)
    net_amount: int = Field(sa_type=sa.BigInteger, nullable=False)
    # Refunds so far (full or partial): the amount given back, and the part of net_amount
    # they take back (net * refunded / amount, half up; all of it once fully refunded).
    refunded_amount: int = Field(
        default=0, sa_type=sa.BigInteger, nullable=False, sa_column_kwargs={"server_default": "0"}
    )
    refunded_net: int = Field(
        default=0, sa_type=sa.BigInteger, nullable=False, sa_column_kwargs={"server_default": "0"}
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)

    __table_args__ = (
        # Per merchant, so a refused duplicate never reveals another merchant's reference.
        sa.UniqueConstraint("merchant_id", "reference", name="uq_transactions_merchant_reference"),
        # Recent transactions and cursor pages: newest first per merchant.
        sa.Index("ix_transactions_merchant_created", "merchant_id", "created_at", "id"),
        # Balance edges and filtered lists.
        sa.Index("ix_transactions_merchant_status_created", "merchant_id", "status", "created_at"),
        # The transactions page and its export sorted by amount.
        sa.Index("ix_transactions_merchant_amount", "merchant_id", "amount", "id"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("fee >= 0 AND fee <= amount", name="fee_range"),
        sa.CheckConstraint("net_amount = amount - fee", name="net"),
        sa.CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount", name="refunded_range"
        ),
        sa.CheckConstraint(
            "refunded_net >= 0 AND refunded_net <= net_amount", name="refunded_net_range"
        ),
    )


@dataclass(frozen=True)
class TransactionRecord:
    """A payment as every interface reads it: the row's public columns and its provider's code
    and name. Each interface has one converter from it: `api.schemas.TransactionOut.from_record`
    (REST and GraphQL), `events.payloads.transaction_payload` (events and webhook bodies) and
    `views.transactions` / `views.payment` (the pages). The CSV export alone reads bare columns
    (`exports/transactions.py` and its PostgreSQL twin, byte for byte the same): it takes about
    8 µs a row, and building a record costs about 4 µs more, below the export's aim of 100,000
    rows/s (bench/README.md)."""

    reference: str
    amount: int
    currency: str
    status: str
    provider_code: str
    provider_name: str
    customer_email: str
    fee: int
    net_amount: int
    created_at: datetime
    updated_at: datetime
    refunded_amount: int = 0

    @classmethod
    def from_row(
        cls, tx: PaymentColumns, *, provider_code: str, provider_name: str
    ) -> TransactionRecord:
        return cls(
            reference=tx.reference,
            amount=tx.amount,
            currency=tx.currency,
            status=tx.status,
            provider_code=provider_code,
            provider_name=provider_name,
            customer_email=tx.customer_email,
            fee=tx.fee,
            net_amount=tx.net_amount,
            created_at=tx.created_at,
            updated_at=tx.updated_at,
            refunded_amount=tx.refunded_amount,
        )

    @classmethod
    def with_provider(cls, tx: Transaction, provider: ProviderNames) -> TransactionRecord:
        """The record of a payment just written, with its provider (a `Provider` row or the
        write path's cached route)."""
        return cls.from_row(tx, provider_code=provider.code, provider_name=provider.display_name)


class PaymentColumns(Protocol):
    """A `Transaction` or a row of the columns a record reads (`RECORD_COLUMNS`): the lists
    select the columns, not ORM objects, which cost more to build than the rest of the read."""

    reference: str
    amount: int
    currency: str
    status: str
    customer_email: str
    fee: int
    net_amount: int
    created_at: datetime
    updated_at: datetime
    refunded_amount: int


# The transactions columns a TransactionRecord reads, named as its fields.
RECORD_COLUMNS = tuple(name for name in PaymentColumns.__annotations__)


class ProviderNames(Protocol):
    @property
    def code(self) -> str: ...

    @property
    def display_name(self) -> str: ...

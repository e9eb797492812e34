from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from paybridge.db import BigId, UTCDateTime, utcnow


class EventType(StrEnum):
    """What an outbox row records (events/outbox.py writes them; the dashboard's numbers read
    the payments' own, `selectors.live_numbers`)."""

    TRANSACTION_CREATED = "transaction.created"
    TRANSACTION_UPDATED = "transaction.updated"
    SETTLEMENT_CREATED = "settlement.created"
    SETTLEMENT_UPDATED = "settlement.updated"
    WEBHOOK_DELIVERED = "webhook.delivered"
    WEBHOOK_FAILED = "webhook.failed"
    WEBHOOK_DISABLED = "webhook.disabled"
    WEBHOOK_TEST = "webhook.test"


def payload_reference() -> sa.ColumnElement[str]:
    """The payload's "reference" as text; queries must use this same expression to use the
    index on it. `->>` means the same on PostgreSQL and SQLite (3.38+)."""
    return sa.literal_column("payload").op("->>")(sa.literal_column("'reference'"))


class Event(SQLModel, table=True):
    """The outbox. Written in the same DB transaction as the change it describes. Ids grow, but
    on PostgreSQL they may commit out of order: read it with an `OutboxTail`."""

    __tablename__ = "events"

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    merchant_id: int = Field(foreign_key="users.id", nullable=False)
    type: str = Field(max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    # The X-Request-Id of the API request that caused it (None outside API requests).
    request_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)

    __table_args__ = (
        sa.Index("ix_events_merchant_id", "merchant_id", "id"),
        # A payment's (or payout's) timeline.
        sa.Index("ix_events_merchant_reference", "merchant_id", payload_reference()),
    )

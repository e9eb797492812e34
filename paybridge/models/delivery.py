"""Webhook delivery: one delivery per (endpoint, event), one attempt row per try, the delivery
state of each endpoint (rolled secret, failing streak, automatic disable) and the outbox cursor
the worker fans events out from."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from paybridge.db import BigId, UTCDateTime, utcnow


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its first attempt or a retry (or being attempted now)
    SUCCEEDED = "succeeded"  # a 2xx answer was received
    FAILED = "failed"  # retries exhausted, or the endpoint was disabled


class WebhookDelivery(SQLModel, table=True):
    """An event owed to one endpoint.

    `next_attempt_at` doubles as the claim lease: a worker that claims the delivery moves it
    `lease` seconds ahead and sets `claim_token`; if the worker dies, the delivery becomes due
    again when the lease ends and another worker retries the same attempt (at least once).
    """

    __tablename__ = "webhook_deliveries"

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    merchant_id: int = Field(foreign_key="users.id", nullable=False)
    webhook_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False
        )
    )
    event_id: int = Field(
        sa_column=sa.Column(BigId, sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False)
    )
    event_type: str = Field(max_length=64)
    status: str = Field(default=DeliveryStatus.PENDING.value, max_length=16)
    attempt_count: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    retry_until: datetime = Field(sa_type=UTCDateTime, nullable=False)
    claim_token: str | None = Field(default=None, max_length=32)
    last_status_code: int | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    __table_args__ = (
        sa.UniqueConstraint("webhook_id", "event_id"),
        sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        sa.Index("ix_webhook_deliveries_merchant", "merchant_id", "id"),
        sa.Index("ix_webhook_deliveries_merchant_finished", "merchant_id", "finished_at"),
        sa.Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
    )


class WebhookAttempt(SQLModel, table=True):
    """One HTTP request of a delivery (or a refusal to send it)."""

    __tablename__ = "webhook_attempts"

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    delivery_id: int = Field(
        sa_column=sa.Column(
            BigId,
            sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
            nullable=False,
        )
    )
    attempt_number: int = Field(nullable=False)
    succeeded: bool = Field(default=False)
    status_code: int | None = Field(default=None)
    duration_ms: int = Field(default=0)
    response_excerpt: str = Field(default="", max_length=1000)
    error: str | None = Field(default=None, max_length=255)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)

    __table_args__ = (sa.UniqueConstraint("delivery_id", "attempt_number"),)


class WebhookEndpointState(SQLModel, table=True):
    """Delivery-side state of one endpoint, beside the `webhooks` row the API owns: the previous
    secret while a roll overlaps, the start of the current failing streak and an automatic
    disable. The row is created on first need; no row means "never rolled, never failed"."""

    __tablename__ = "webhook_endpoint_states"

    webhook_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("webhooks.id", ondelete="CASCADE"), primary_key=True
        )
    )
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    disabled_reason: str | None = Field(default=None, max_length=255)


class OutboxCursor(SQLModel, table=True):
    """How far a consumer has read the outbox: the highest event id it has seen, plus the ids
    below it that were missing when it passed them (`gaps`: id -> unix time first missed)."""

    __tablename__ = "outbox_cursors"

    name: str = Field(primary_key=True, max_length=64)
    position: int = Field(default=0, sa_type=sa.BigInteger, nullable=False)
    gaps: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)

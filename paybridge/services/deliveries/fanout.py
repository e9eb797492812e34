"""Outbox events -> deliveries: one `WebhookDelivery` per active endpoint subscribed to an
event's type, idempotent and safe to run in several workers at once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from paybridge.db import read_session, utcnow, write_session
from paybridge.events.tail import OutboxTail
from paybridge.models import DeliveryStatus, Event, OutboxCursor, Webhook, WebhookDelivery
from paybridge.models.tables import table_of
from paybridge.services.deliveries.policy import DeliveryPolicy

FAN_OUT_CURSOR = "webhook_fan_out"


def is_engine_event(event_type: str) -> bool:
    """Events about webhook delivery itself: never delivered to webhooks (no loops)."""
    return event_type.startswith("webhook.")


@dataclass(frozen=True)
class FanOutResult:
    events: int  # outbox events read in this pass
    deliveries: int  # deliveries created
    more: bool  # a full batch was read: call again without waiting


def deliveries_fan_out(
    *, policy: DeliveryPolicy | None = None, batch: int = 1000, now: datetime | None = None
) -> FanOutResult:
    """Turn new outbox events into deliveries; safe to run in several workers at once.

    The cursor row keeps an `OutboxTail` (paybridge.events.tail) in the database: the highest
    id read and the ids below it still missing, so events committed out of id order are
    delivered too, and a restart forgets nothing.

    Inserting a delivery is idempotent (unique (webhook_id, event_id), ON CONFLICT DO NOTHING),
    so re-reading an event never delivers it twice. The cursor row is locked with
    `FOR UPDATE SKIP LOCKED`: one worker fans out at a time, the others skip the step.

    An endpoint only receives events created after it (`webhooks.created_at`); `webhook.*`
    events are never delivered (see the module docstring).
    """
    policy = policy or DeliveryPolicy.from_env()
    now = now or utcnow()
    if not _outbox_has_work(FAN_OUT_CURSOR):
        return FanOutResult(0, 0, False)
    with write_session() as session:
        cursor = _lock_cursor(session, FAN_OUT_CURSOR)
        if cursor is None:
            return FanOutResult(0, 0, False)
        gaps = {int(k): float(v) for k, v in (cursor.gaps or {}).items()}
        tail = OutboxTail(position=cursor.position, gaps=gaps)
        read = tail.read(session, now=now.timestamp(), gap_seconds=policy.gap_timeout, batch=batch)
        new_gaps = {str(k): v for k, v in sorted(tail.gaps.items())}
        if not read.events and new_gaps == cursor.gaps:
            return FanOutResult(0, 0, False)  # still waiting for the same gaps: write nothing
        created = _create_deliveries(session, read.events, now=now, policy=policy)
        cursor.position = tail.position
        cursor.gaps = new_gaps
        cursor.updated_at = now
        session.add(cursor)
        session.commit()
        return FanOutResult(len(read.events), created, read.more)


def _upsert_ignore(session: Session, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def _outbox_has_work(name: str) -> bool:
    """A read-only look: open gaps, or an event past the cursor? (Idle polls then cost two
    indexed reads and no write transaction.)"""
    with read_session() as session:
        cursor = session.get(OutboxCursor, name)
        if cursor is not None and cursor.gaps:
            return True
        position = cursor.position if cursor is not None else 0
        return (
            session.exec(select(col(Event.id)).where(col(Event.id) > position).limit(1)).first()
            is not None
        )


def _lock_cursor(session: Session, name: str) -> OutboxCursor | None:
    """The cursor row, locked; None while another worker holds it (PostgreSQL)."""
    query = (
        select(OutboxCursor)
        .where(col(OutboxCursor.name) == name)
        .with_for_update(skip_locked=True, key_share=True)
        .execution_options(populate_existing=True)
    )
    cursor = session.exec(query).first()
    if cursor is None and session.get(OutboxCursor, name) is None:
        insert = _upsert_ignore(session, table_of(OutboxCursor))
        session.execute(
            insert.values(
                name=name, position=0, gaps={}, updated_at=utcnow()
            ).on_conflict_do_nothing()
        )
        cursor = session.exec(query).first()
    return cursor


def _subscribes(webhook: Webhook, event_type: str) -> bool:
    types = webhook.event_types or []
    return event_type in types or "*" in types


def _create_deliveries(
    session: Session, events: Iterable[Event], *, now: datetime, policy: DeliveryPolicy
) -> int:
    events = [e for e in events if not is_engine_event(e.type)]
    if not events:
        return 0
    merchant_ids = {e.merchant_id for e in events}
    hooks: dict[int, list[Webhook]] = {}
    for hook in session.exec(
        select(Webhook).where(col(Webhook.merchant_id).in_(merchant_ids), col(Webhook.is_active))
    ).all():
        hooks.setdefault(hook.merchant_id, []).append(hook)
    retry_until = now + timedelta(seconds=policy.retry_window)
    rows = [
        {
            "merchant_id": event.merchant_id,
            "webhook_id": hook.id,
            "event_id": event.id,
            "event_type": event.type,
            "status": DeliveryStatus.PENDING.value,
            "attempt_count": 0,
            "next_attempt_at": now,
            "retry_until": retry_until,
            "created_at": now,
        }
        for event in events
        for hook in hooks.get(event.merchant_id, ())
        if _subscribes(hook, event.type) and hook.created_at <= event.created_at
    ]
    if not rows:
        return 0
    table = table_of(WebhookDelivery)
    insert = _upsert_ignore(session, table).on_conflict_do_nothing(
        index_elements=["webhook_id", "event_id"]
    )
    return len(session.execute(insert.returning(table.c.id), rows).all())

"""Writing events to the outbox table in the caller's transaction."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlmodel import Session

from paybridge.db import run_after_commit
from paybridge.logs import current_request_id
from paybridge.models import Event


class EventType(StrEnum):
    TRANSACTION_CREATED = "transaction.created"
    TRANSACTION_UPDATED = "transaction.updated"
    SETTLEMENT_CREATED = "settlement.created"
    SETTLEMENT_UPDATED = "settlement.updated"
    WEBHOOK_DELIVERED = "webhook.delivered"
    WEBHOOK_FAILED = "webhook.failed"
    WEBHOOK_DISABLED = "webhook.disabled"
    WEBHOOK_TEST = "webhook.test"


def record_event(
    session: Session, *, merchant_id: int, type: EventType, payload: dict[str, Any]
) -> Event:
    """Add an outbox row; it commits (or rolls back) with the change it describes.

    Inside an API request the row carries the request's id (see `paybridge.logs`)."""
    event = Event(
        merchant_id=merchant_id,
        type=type.value,
        payload=payload,
        request_id=current_request_id(),
    )
    session.add(event)
    return event


def event_message(event: Event) -> dict[str, Any]:
    """The JSON-ready form of an event, as sent on the bus and shown in feeds."""
    return {
        "id": event.id,
        "merchant_id": event.merchant_id,
        "type": event.type,
        "payload": event.payload,
        "created_at": event.created_at.isoformat(),
    }


def commit_and_publish(session: Session, events: list[Event]) -> None:
    """Commit the caller's transaction, then put its events on the bus (never failing the write).

    Inside a unit of work (`paybridge.db.Unit`) the events go out when the unit commits."""
    session.flush()
    messages = [event_message(e) for e in events]
    session.commit()
    from paybridge.events.bus import publish_events

    run_after_commit(lambda: publish_events(messages))

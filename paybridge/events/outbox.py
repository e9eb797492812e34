"""Writing events to the outbox table in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Session

from paybridge.db import driver_rows, run_after_commit, utcnow
from paybridge.logs import current_request_id
from paybridge.models import Event
from paybridge.models.event import EventType as EventType  # defined with its table
from paybridge.models.tables import ArrayInsert, table_of


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


def record_events(
    session: Session, events: list[tuple[int, EventType, dict[str, Any], str | None]]
) -> list[dict[str, Any]]:
    """Add many outbox rows — (merchant id, type, payload, request id) — with one INSERT in the
    caller's transaction; returns their bus messages (as `event_message` makes them)."""
    if not events:
        return []
    now = utcnow()
    rows = [
        {"merchant_id": m, "type": t.value, "payload": p, "request_id": r, "created_at": now}
        for m, t, p, r in events
    ]
    if session.get_bind().dialect.name == "postgresql":
        # Ids are drawn in the rows' order (the statement inserts them ORDER BY position).
        ids = sorted(
            id_
            for (id_,) in driver_rows(session, _ARRAY_INSERT.statement, _ARRAY_INSERT.params(rows))
        )
    else:
        ids = list(session.execute(_INSERT_EVENTS, rows).scalars())
    stamp = now.isoformat()
    return [
        {"id": id_, "merchant_id": row["merchant_id"], "type": row["type"],
         "payload": row["payload"], "created_at": stamp}
        for id_, row in zip(ids, rows, strict=True)
    ]  # fmt: skip


# Built once; ids come back in the order of the rows (SQLAlchemy's "insertmanyvalues").
_EVENTS = table_of(Event)
_INSERT_EVENTS = sa.insert(_EVENTS).returning(_EVENTS.c.id, sort_by_parameter_order=True)
_ARRAY_INSERT = ArrayInsert(
    _EVENTS, ["merchant_id", "type", "payload", "request_id", "created_at"], "RETURNING id"
)


def publish_after_commit(messages: list[dict[str, Any]]) -> None:
    """Put these messages on the bus once the caller's data is committed (never failing it)."""
    from paybridge.events.bus import publish_events

    if messages:
        run_after_commit(lambda: publish_events(messages))


class EventFields(Protocol):
    """An `Event` or a row of its columns (the feeds read rows: no ORM object per line)."""

    id: int | None
    merchant_id: int
    type: str
    payload: dict[str, Any]
    created_at: datetime


def event_message(event: EventFields) -> dict[str, Any]:
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

"""Reading the outbox in id order without stepping over events that commit late.

Outbox ids come from a sequence at INSERT time, but on PostgreSQL transactions commit in any
order: event 11 can be visible while event 10 is still uncommitted. A reader that only keeps
`id > last` steps over 10 forever. An `OutboxTail` also remembers every id below its position
that was missing when it passed it (its gaps, with the unix time first missed) and looks for
them again on every read, until they appear or `gap_seconds` pass: by then their transaction
has rolled back (sequence values are never reused). The timeout must be longer than any
transaction that writes an event (`PAYBRIDGE_OUTBOX_GAP_SECONDS` raises it).

An open gap costs one primary-key lookup per read instead of re-reading a window of the
outbox. SQLite has one writer, so its ids commit in order and it never has gaps.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlmodel import Session, col, select

from paybridge.models import Event
from paybridge.models.keys import key

log = logging.getLogger(__name__)

GAP_SECONDS_ENV = "PAYBRIDGE_OUTBOX_GAP_SECONDS"
DEFAULT_GAP_SECONDS = 60.0
MAX_GAPS = 10_000  # past this many open gaps a reader stops waiting for more
LOOKUP_CHUNK = 500  # ids per IN (...) lookup


def gap_seconds_from_env() -> float:
    raw = os.environ.get(GAP_SECONDS_ENV, "")
    value = float(raw) if raw else DEFAULT_GAP_SECONDS
    if value < 0:
        raise RuntimeError(f"{GAP_SECONDS_ENV} must not be negative")
    return value


class OutboxRead(NamedTuple):
    events: list[Event]  # late ones (committed after the tail passed their id) first
    more: bool  # a full batch above the position was read: read again without waiting


@dataclass
class OutboxTail:
    position: int = 0  # the highest id read
    gaps: dict[int, float] = field(default_factory=dict)  # id -> unix time first missed

    @classmethod
    def at_latest(cls, session: Session, *, now: float, lookback: int = 1000) -> OutboxTail:
        """A tail that starts at the newest event. Ids missing among the last `lookback` are
        gaps from the start: a transaction in flight right now may still commit one of them."""
        newest = session.exec(select(Event.id).order_by(col(Event.id).desc()).limit(1)).first()
        if newest is None:
            return cls()
        present = set(session.exec(select(Event.id).where(col(Event.id) > newest - lookback)).all())
        missing = (i for i in range(max(newest - lookback + 1, 1), newest) if i not in present)
        return cls(position=newest, gaps=dict.fromkeys(missing, now))

    def read(
        self, session: Session, *, now: float, gap_seconds: float, batch: int = 500
    ) -> OutboxRead:
        """Events that became visible since the last read, each exactly once over the tail's
        life."""
        gaps = dict(self.gaps)  # the tail changes only once every query has succeeded
        late: list[Event] = []
        gap_ids = sorted(gaps)
        for start in range(0, len(gap_ids), LOOKUP_CHUNK):
            chunk = gap_ids[start : start + LOOKUP_CHUNK]
            late.extend(session.exec(select(Event).where(col(Event.id).in_(chunk))).all())
        for event in late:
            del gaps[key(event)]
        new = list(
            session.exec(
                select(Event)
                .where(col(Event.id) > self.position)
                .order_by(col(Event.id))
                .limit(batch)
            ).all()
        )
        expected = self.position + 1
        for event in new:
            event_id = key(event)
            for missing in range(expected, event_id):
                if len(gaps) >= MAX_GAPS:
                    log.warning("outbox reader: too many open gaps, not waiting for %s", missing)
                    break
                gaps[missing] = now
            expected = event_id + 1
        if new:
            self.position = key(new[-1])
        self.gaps = {i: t for i, t in gaps.items() if now - t < gap_seconds}
        return OutboxRead(late + new, len(new) >= batch)

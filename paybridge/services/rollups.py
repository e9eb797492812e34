"""Keeping the hourly rollups exact, inside the caller's transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from paybridge.models import HourlyRollup, Transaction

BUCKET_KEY = ("merchant_id", "currency", "hour", "provider_id", "status")
SUMS = ("count", "gross", "fees", "net", "refunded", "refunded_net")


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def rollup_add(session: Session, *, transaction: Transaction, status: str, sign: int) -> None:
    """Add (sign=+1) or remove (sign=-1) one transaction, as it is now, from its (hour, status)
    bucket: remove before changing a payment, add after."""
    rollup_apply(session, [(transaction, status, sign)])


def rollup_apply(session: Session, changes: Iterable[tuple[Transaction, str, int]]) -> None:
    """Apply many (transaction, status, ±1) changes with one upsert per touched bucket."""
    deltas: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(SUMS))
    for tx, status, sign in changes:
        key = (tx.merchant_id, tx.currency, floor_hour(tx.created_at), tx.provider_id, status)
        delta = deltas[key]
        delta[0] += sign
        delta[1] += sign * tx.amount
        delta[2] += sign * tx.fee
        delta[3] += sign * tx.net_amount
        delta[4] += sign * tx.refunded_amount
        delta[5] += sign * tx.refunded_net
    if not deltas:
        return
    table = HourlyRollup.__table__
    insert = (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert
    rows = [
        dict(zip(BUCKET_KEY, key, strict=True)) | dict(zip(SUMS, delta, strict=True))
        for key, delta in sorted(deltas.items())  # a fixed order avoids deadlocks between writers
    ]
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(BUCKET_KEY),
        set_={name: table.c[name] + statement.excluded[name] for name in SUMS},
    )
    session.execute(statement, rows)

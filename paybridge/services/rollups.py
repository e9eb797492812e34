"""Keeping the rollups exact, inside the caller's transaction.

Four grains hold the same count and sums per (merchant, currency, provider, status): per UTC
quarter hour, hour and day, and over all time. One call writes the summed deltas of a whole list
of changes to all four: one statement on PostgreSQL (whatever the list's length), one
executemany per grain on SQLite.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import cache
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlmodel import Session

from paybridge.db import driver_rows
from paybridge.models import DailyRollup, HourlyRollup, QuarterRollup, RollupTotal
from paybridge.models.tables import Int8Array, TextArray, TimestamptzArray, table_of

SUMS = ("count", "gross", "fees", "net", "refunded", "refunded_net")
QUARTER_KEY = ("merchant_id", "currency", "quarter", "provider_id", "status")
QuarterKey = tuple[int, str, datetime, int, str]


class Rolled(Protocol):
    """What the rollups read of a payment: a Transaction, a payment about to be recorded
    (`NewPayment`), or a snapshot of one taken before a change (see `rollup_snapshot`).
    Read-only, so that computed fields conform as well as stored ones."""

    @property
    def merchant_id(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def provider_id(self) -> int: ...
    @property
    def amount(self) -> int: ...
    @property
    def fee(self) -> int: ...
    @property
    def net_amount(self) -> int: ...
    @property
    def refunded_amount(self) -> int: ...
    @property
    def refunded_net(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A payment's rolled-up fields as they were, for removing it after it has changed."""

    merchant_id: int
    currency: str
    created_at: datetime
    provider_id: int
    amount: int
    fee: int
    net_amount: int
    refunded_amount: int
    refunded_net: int


def rollup_snapshot(tx: Rolled) -> Snapshot:
    return Snapshot(*(getattr(tx, field.name) for field in fields(Snapshot)))


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def floor_quarter(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def rollup_apply(session: Session, changes: Iterable[tuple[Rolled, str, int]]) -> None:
    """Apply many (transaction, status, ±1) changes: their deltas summed per bucket, each bucket
    of each grain written once, in one fixed order (grain, then key) so that concurrent writers
    queue instead of deadlocking."""
    deltas: dict[QuarterKey, list[int]] = defaultdict(lambda: [0] * len(SUMS))
    for tx, status, sign in changes:
        key = (tx.merchant_id, tx.currency, floor_quarter(tx.created_at), tx.provider_id, status)
        delta = deltas[key]
        delta[0] += sign
        delta[1] += sign * tx.amount
        delta[2] += sign * tx.fee
        delta[3] += sign * tx.net_amount
        delta[4] += sign * tx.refunded_amount
        delta[5] += sign * tx.refunded_net
    # A change that cancels out (a payment removed and added back unchanged) writes nothing.
    rows = sorted((k, d) for k, d in deltas.items() if any(d))
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        columns = [
            array(values)
            for (_, array), values in zip(
                _UPSERT_COLUMNS,
                zip(*(key + tuple(delta) for key, delta in rows), strict=True),
                strict=True,
            )
        ]
        driver_rows(
            session, _postgresql_upsert(), dict(zip(QUARTER_KEY + SUMS, columns, strict=True))
        )
    else:
        for table, key_of in _grains():
            summed: dict[tuple[object, ...], list[int]] = defaultdict(lambda: [0] * len(SUMS))
            for key, delta in rows:
                total = summed[key_of(key)]
                for i, value in enumerate(delta):
                    total[i] += value
            session.execute(
                _sqlite_upsert(table),
                [
                    dict(zip(_key_columns(table), key, strict=True))
                    | dict(zip(SUMS, delta, strict=True))
                    for key, delta in sorted(summed.items())
                ],
            )


def _grains() -> list[tuple[sa.Table, Callable[[QuarterKey], tuple[object, ...]]]]:
    """Each grain's table and how its key follows from a quarter-hour key, finest first."""
    return [
        (table_of(QuarterRollup), lambda k: k),
        (table_of(HourlyRollup), lambda k: (k[0], k[1], floor_hour(k[2]), k[3], k[4])),
        (table_of(DailyRollup), lambda k: (k[0], k[1], k[2].date(), k[3], k[4])),
        (table_of(RollupTotal), lambda k: (k[0], k[1], k[3], k[4])),
    ]


def _key_columns(table: sa.Table) -> tuple[str, ...]:
    time: dict[str, tuple[str, ...]] = {
        "quarter_rollups": ("quarter",),
        "hourly_rollups": ("hour",),
    }
    time |= {"daily_rollups": ("day",), "rollup_totals": ()}
    return ("merchant_id", "currency", *time[table.name], "provider_id", "status")


@cache
def _sqlite_upsert(table: sa.Table) -> sa.Insert:
    statement = sqlite.insert(table)
    return statement.on_conflict_do_update(
        index_elements=list(_key_columns(table)),
        set_={name: table.c[name] + statement.excluded[name] for name in SUMS},
    )


# Each column of QUARTER_KEY + SUMS in `_postgresql_upsert`: its SQL type and the array
# that carries its values.
_UPSERT_COLUMNS = (
    ("integer", Int8Array),
    ("varchar", TextArray),
    ("timestamptz", TimestamptzArray),
    ("integer", Int8Array),
    ("varchar", TextArray),
) + (("bigint", Int8Array),) * len(SUMS)


@cache
def _postgresql_upsert() -> sa.TextClause:
    """One statement for every grain: the quarter-hour deltas arrive as arrays (one per column,
    so the text never changes with the number of buckets) and each coarser grain sums them."""
    arrays = ", ".join(
        f"CAST(:{name} AS {kind}[])"
        for name, (kind, _) in zip(
            QUARTER_KEY + SUMS,
            _UPSERT_COLUMNS,
            strict=True,
        )
    )
    source = f"SELECT * FROM unnest({arrays}) AS c({', '.join(QUARTER_KEY + SUMS)})"
    grains = [
        ("quarter_rollups", "quarter", "c.quarter"),
        ("hourly_rollups", "hour", "date_trunc('hour', c.quarter, 'UTC')"),
        ("daily_rollups", "day", "(c.quarter AT TIME ZONE 'UTC')::date"),
        ("rollup_totals", None, None),
    ]
    parts = [f"c AS MATERIALIZED ({source})"]
    for i, (table, time_column, time_value) in enumerate(grains):
        names = ["merchant_id", "currency", *([time_column] if time_column else [])]
        names += ["provider_id", "status"]
        values = ["c.merchant_id", "c.currency", *([time_value] if time_value else [])]
        values += ["c.provider_id", "c.status"]
        positions = ", ".join(str(n + 1) for n in range(len(names)))
        upsert = (
            f"INSERT INTO {table} AS r ({', '.join(names + list(SUMS))}) "
            f"SELECT {', '.join(values)}, {', '.join(f'sum(c.{s})' for s in SUMS)} FROM c "
            f"GROUP BY {positions} ORDER BY {positions} "
            f"ON CONFLICT ({', '.join(names)}) DO UPDATE SET "
            + ", ".join(f"{s} = r.{s} + excluded.{s}" for s in SUMS)
        )
        parts.append(f"g{i} AS ({upsert} RETURNING 1)")
    counted = " UNION ALL ".join(f"SELECT count(*) FROM g{i}" for i in range(len(grains)))
    return sa.text(f"WITH {', '.join(parts)} {counted}")

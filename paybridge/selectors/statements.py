"""One statement, several answers: the rows of each question are tagged with their kind and
laid out in the same columns (`COLUMNS`) so a UNION ALL of them reads in one round trip, and
`fetch` runs such a statement (compiled once, with a generic plan, on PostgreSQL)."""

from __future__ import annotations

from functools import cache
from typing import Any, cast

import psycopg
import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg as psycopg_dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlmodel import Session

from paybridge.db import UTCDateTime, driver_errors_raised

SUMS = ("count", "gross", "fees", "net", "refunded", "refunded_net")  # what every grain sums


COLUMNS: tuple[tuple[str, sa.types.TypeEngine[Any]], ...] = (
    ("currency", sa.String()),
    ("day", sa.Date()),
    ("moment", UTCDateTime()),
    ("provider_id", sa.Integer()),
    ("code", sa.String()),
    ("name", sa.String()),
    ("status", sa.String()),
    *((name, sa.BigInteger()) for name in SUMS),
)


def tagged(kind: str | int, source: sa.Select, **columns: int) -> sa.Select:
    """`source`'s columns as one kind of row of a UNION ALL that answers several questions in
    one round trip: (kind, *COLUMNS), NULL where `columns` (name -> position) maps nothing.
    `kind` is a literal or the position of a column of `source` that holds it."""
    sub = source.subquery()
    kind_value = sa.literal(kind, sa.String()) if isinstance(kind, str) else list(sub.c)[kind]
    values = [kind_value.label("kind")]
    for name, type_ in COLUMNS:
        at = columns.get(name)
        values.append(
            (sub.c[at] if isinstance(at, str) else list(sub.c)[at]).label(name)
            if at is not None
            else sa.cast(sa.null(), type_).label(name)
        )
    return sa.select(*values)


Statement = sa.Select[Any] | sa.CompoundSelect


def fetch(session: Session, statement: Statement, params: dict[str, object]) -> list[Any]:
    """The rows of a statement built once. On PostgreSQL it is also compiled once, to the
    server's own `$n` text, and run on the session's connection without SQLAlchemy's and
    psycopg's per-call work (for the dashboard's ~11 kB statement that was half the client CPU
    of a load), with its generic plan once psycopg has prepared it (its fifth call on a
    connection; never behind PgBouncer, where PAYBRIDGE_DB_PGBOUNCER turns preparing off):
    PostgreSQL would otherwise plan it on every call (its custom plans always looked cheaper),
    ~1.5 ms of a load. Elsewhere it goes through the session as usual."""
    if session.get_bind().dialect.name != "postgresql":
        return list(session.execute(statement, params).all())
    text, names, compiled = _postgresql_text(statement)
    values = compiled.construct_params(params)
    core = session.connection()
    # On PostgreSQL the driver is psycopg (paybridge.db), so this is its connection.
    connection = cast("psycopg.Connection[Any]", core.connection.driver_connection)
    query = psycopg.RawCursor(connection, row_factory=namedtuple_row)
    # Reads outside a unit run without a transaction (paybridge.db), and SET LOCAL needs one:
    # begin and end it here, in the same round trip.
    alone = connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    arguments = [values[name] for name in names]
    # One round trip; the setting lasts for this statement only. A failure is raised as
    # SQLAlchemy's (a lost database answers 503, not 500).
    with driver_errors_raised(core, text, arguments), connection.pipeline():
        if alone:
            connection.execute("BEGIN")
        connection.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        query.execute(text, arguments)
        connection.execute("COMMIT" if alone else "SET LOCAL plan_cache_mode TO DEFAULT")
    rows = query.fetchall()
    query.close()
    return rows


@cache
def _postgresql_text(statement: Statement) -> tuple[str, tuple[str, ...], SQLCompiler]:
    compiled = statement.compile(dialect=psycopg_dialect(paramstyle="numeric_dollar"))
    assert isinstance(compiled, SQLCompiler)  # a SELECT compiles to SQL (not DDL)
    return str(compiled), tuple(compiled.positiontup or ()), compiled

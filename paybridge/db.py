"""Units of work and the session factories shared by services, selectors, the API, states and
the worker (the engine they run on is `paybridge.engine`).

On SQLite write sessions begin with `BEGIN IMMEDIATE`, so concurrent writers queue for the
single write lock instead of failing; PostgreSQL writers serialise on row locks taken by the
services.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.pool import PoolProxiedConnection
from sqlmodel import Session, SQLModel

from paybridge import libpq
from paybridge.engine import READS, get_engine, is_sqlite

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")

# Deterministic constraint names, so migrations can name what they create and drop.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC timestamps on every backend (SQLite drops the offset on its own)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# BIGINT ids everywhere except SQLite, where only INTEGER PRIMARY KEY auto-increments.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Unit:
    """One database transaction that several service calls share (see `in_unit`).

    While it is the current unit, `write_session()` and `read_session()` join it: a service's
    `session.commit()` only releases a SAVEPOINT and its rollback only undoes its own work, and
    whatever it wants to do after committing (publishing events) waits in `after_commit` until
    the unit itself commits. So an API request can store its `Idempotency-Key` response in the
    same transaction as the write it answers for.
    """

    def __init__(self, connection: sa.Connection, *, savepoints: bool = True) -> None:
        self.connection = connection
        self.savepoints = savepoints
        self.after_commit: list[Callable[[], None]] = []

    def __del__(self) -> None:
        # Defence in depth: `in_unit` always ends its unit, so this should never be seen. A
        # unit dropped while open would hold its locks until PostgreSQL's
        # idle_in_transaction_session_timeout ends it.
        if not self.connection.closed:
            from paybridge.metrics import increment

            increment("units_abandoned")
            log.error("a unit of work was dropped without commit or rollback")

    def session(self) -> Session:
        """Without savepoints a service's commit writes nothing and its rollback ends the whole
        unit: for work that is all or nothing anyway (`in_unit(..., savepoints=False)`)."""
        if self.savepoints:
            return Session(
                self.connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
            )
        return Session(
            self.connection, expire_on_commit=False, join_transaction_mode="rollback_only"
        )

    def commit(self) -> None:
        """Commit everything at once, then run the deferred after-commit work."""
        try:
            self.connection.commit()
        finally:
            self.connection.close()
        for callback in self.after_commit:
            callback()

    def rollback(self) -> None:
        """Undo everything (nothing written, nothing published). Safe on a dead connection."""
        try:
            self.connection.rollback()
        except sa.exc.SQLAlchemyError:
            pass  # a connection that died has rolled back on the server already
        finally:
            self.connection.close()
            self.after_commit.clear()


_unit: ContextVar[Unit | None] = ContextVar("paybridge_unit", default=None)

# SQLSTATEs that mean "another transaction got in the way; run yours again": PostgreSQL's
# manual (13.5, serialization failure handling) asks applications to retry exactly these.
CONTENTION_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
CONTENTION_ATTEMPTS = 5


# The server no longer knows a statement this process prepared on the connection (see
# `paybridge.libpq`): nothing was committed, and the rerun prepares it again.
FORGOTTEN_STATEMENT = "26000"  # invalid_sql_statement_name


def _sqlstate(error: BaseException) -> str | None:
    return getattr(getattr(error, "orig", None), "sqlstate", None)


def is_contention(error: BaseException) -> bool:
    """A serialization failure or deadlock: nothing was committed and a rerun may succeed."""
    return _sqlstate(error) in CONTENTION_SQLSTATES


def is_rerunnable(error: BaseException) -> bool:
    """Contention, or a prepared statement the server forgot: a unit or a service write that
    failed so runs again."""
    return is_contention(error) or _sqlstate(error) == FORGOTTEN_STATEMENT


def _contention_pause(attempt: int) -> float:
    """Full jitter over an exponential cap (5, 10, 20, 40 ms): racers spread out."""
    return random.uniform(0, 0.005 * 2 ** (attempt - 1))


def unit_begin(*, savepoints: bool = True) -> Unit:
    """Open a connection and begin a transaction (BEGIN IMMEDIATE on SQLite)."""
    engine = get_engine()
    bind = engine.execution_options(sqlite_immediate=True) if is_sqlite(engine) else engine
    connection = bind.connect()
    try:
        connection.begin()
    except BaseException:
        connection.close()
        raise
    return Unit(connection, savepoints=savepoints)


def in_unit(
    work: Callable[[], T], *, attempts: int = CONTENTION_ATTEMPTS, savepoints: bool = True
) -> T:
    """Run `work` as ONE database transaction, begun, committed or rolled back in this thread.

    Every service call inside `work` joins the unit (`write_session`/`read_session`); events
    go on the bus after the commit. A serialization failure or deadlock (or a prepared
    statement the server forgot, `is_rerunnable`) rolls everything back and runs `work` again
    (at most `attempts` times, with jitter), so every check inside it — a balance, an
    idempotency key — is made afresh. Nothing here awaits: a connection is never
    held by a coroutine that could be cancelled or starved of threads between two statements.
    Inside another unit, `work` simply joins it (the outer unit owns retries).

    Each service call is a SAVEPOINT so that one refused call undoes only its own work; work
    that is all or nothing (a group-commit batch, rewritten one by one if anything fails) passes
    `savepoints=False` and saves two round trips a call.
    """
    if _unit.get() is not None:
        return work()
    for attempt in range(1, attempts + 1):
        unit = unit_begin(savepoints=savepoints)
        token = _unit.set(unit)
        try:
            result = work()
        except BaseException as error:
            unit.rollback()
            if attempt < attempts and is_rerunnable(error):
                _count_retry(error)
                time.sleep(_contention_pause(attempt))
                continue
            raise
        finally:
            _unit.reset(token)
        try:
            unit.commit()
        except BaseException as error:
            unit.rollback()
            if attempt < attempts and is_rerunnable(error):
                _count_retry(error)
                time.sleep(_contention_pause(attempt))
                continue
            raise
        return result
    raise AssertionError("unreachable")  # pragma: no cover


def retry_on_contention(service: Callable[P, T]) -> Callable[P, T]:
    """Decorate a service write (one `write_session` transaction): a deadlock or serialization
    failure (or a prepared statement the server forgot) reruns the whole call, checks
    included. Inside a unit the unit reruns instead."""

    @functools.wraps(service)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        if _unit.get() is not None:
            return service(*args, **kwargs)
        for attempt in range(1, CONTENTION_ATTEMPTS + 1):
            try:
                return service(*args, **kwargs)
            except Exception as error:
                if attempt == CONTENTION_ATTEMPTS or not is_rerunnable(error):
                    raise
                _count_retry(error)
                time.sleep(_contention_pause(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    return run


def _count_retry(error: BaseException) -> None:
    from paybridge.metrics import increment

    increment("db_contention_retries" if is_contention(error) else "db_statements_forgotten")
    log.info("retrying a unit after %s", _sqlstate(error) or "?")


def current_unit() -> Unit | None:
    return _unit.get()


def run_after_commit(callback: Callable[[], None]) -> None:
    """Run `callback` once the data just committed is really committed: at once, or, inside a
    unit, after the unit commits (never, if it rolls back)."""
    unit = _unit.get()
    if unit is None:
        callback()
    else:
        unit.after_commit.append(callback)


def _read_bind() -> Engine:
    return _autocommit_reads(get_engine())


@lru_cache(maxsize=4)
def _autocommit_reads(engine: Engine) -> Engine:
    """Reads outside a unit run without a transaction on PostgreSQL (`_begin_explicitly`)."""
    if engine.dialect.name != "postgresql":
        return engine
    return engine.execution_options(**{READS: True})


@contextmanager
def read_session(*, transaction: bool = False) -> Iterator[Session]:
    """A session for selectors; it never commits. Inside a unit it sees the unit's writes.
    Outside one its statements run without a transaction on PostgreSQL; `transaction=True`
    for a read that needs one (transaction-local settings such as `set_config(..., true)`)."""
    unit = _unit.get()
    if unit is not None:
        session = unit.session()
    else:
        bind = get_engine() if transaction else _read_bind()
        session = Session(bind, expire_on_commit=False)
    with session:
        yield session


@contextmanager
def read_connection() -> Iterator[sa.Connection]:
    """A Core connection for a hot read that needs no ORM (an API call's one-row read): an ORM
    `Session` around one statement cost more CPU than the statement. Like `read_session`,
    inside a unit it is the unit's connection, outside one it runs without a transaction."""
    unit = _unit.get()
    if unit is not None:
        yield unit.connection
        return
    with _read_bind().connect() as connection:
        yield connection


_Compiled = tuple[str, list[Any]]  # the SQL, and each column's conversion or None


class DriverRead:
    """A hot one-row read (an API call's) run on the pooled psycopg connection itself.

    SQLAlchemy's execution layer around a prepared one-row statement cost more CPU than the
    statement's round trip (190 against 135 us here; bench/HISTORY.md "The authenticated GET
    without SQLAlchemy's execute"), so the statement is compiled once per engine and sent with
    the driver's binary protocol. What SQLAlchemy does on the way is kept: the pool's checkout
    (and its idle ping), the columns' conversions (`UTCDateTime`), a driver error raised as
    SQLAlchemy's (the 503 path knows those) and a connection found dead discarded. Inside a
    unit, or on SQLite, it runs on a Core connection as any read."""

    def __init__(self, statement: sa.Select) -> None:
        self.statement = statement
        # for the current engine only: an engine kept here would keep its pool open
        self._compiled: tuple[Engine, _Compiled] | None = None

    def first(self, **params: object) -> Sequence[Any] | None:
        engine = get_engine()
        if _unit.get() is not None or engine.dialect.name != "postgresql":
            with read_connection() as connection:
                return connection.execute(self.statement, params).first()
        compiled = self._compiled
        sql, conversions = (
            compiled[1] if compiled and compiled[0] is engine else self._compile(engine)
        )
        driver_error = engine.dialect.loaded_dbapi.Error
        try:
            pooled = engine.raw_connection()
        except driver_error as error:  # could not connect
            raise _driver_error(engine, None, sql, params, error) from error
        try:
            driver: Any = pooled.driver_connection  # psycopg's Connection
            row = driver.execute(sql, params, binary=True).fetchone()
        except driver_error as error:
            raise _driver_error(engine, pooled, sql, params, error) from error
        finally:
            pooled.close()
        if row is None:
            return None
        return [
            value if convert is None else convert(value)
            for value, convert in zip(row, conversions, strict=True)
        ]

    def _compile(self, engine: Engine) -> _Compiled:
        dialect = engine.dialect
        conversions = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in self.statement.selected_columns
        ]
        compiled = (str(self.statement.compile(dialect=dialect)), conversions)
        self._compiled = (engine, compiled)
        return compiled


def _driver_error(
    engine: Engine,
    pooled: PoolProxiedConnection | None,
    sql: str,
    params: Mapping[str, Any] | Sequence[Any],
    error: Any,
) -> sa.exc.StatementError:
    """`error` as `Connection.execute` would have raised it, the connection discarded if the
    dialect calls it a disconnect."""
    lost = pooled is not None and engine.dialect.is_disconnect(
        error, pooled.driver_connection, None
    )
    if pooled is not None and lost:
        pooled.invalidate(error)
    return sa.exc.DBAPIError.instance(
        sql,
        params,
        error,
        engine.dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=engine.dialect,
    )


def driver_rows(session: Session, statement: sa.TextClause, params: Mapping[str, Any]) -> list[Any]:
    """PostgreSQL: run a text statement on the session's psycopg connection, in its transaction,
    and return its rows as named tuples ([] for a statement that returns none).

    For the payment writer's six statements a batch (arrays in; ids and plain columns out: no
    ORM objects, no conversions): SQLAlchemy's execute around each cost more CPU than psycopg's,
    about a quarter of a one-payment batch (bench/HISTORY.md "Ninth pass"), and psycopg's cursor
    more than libpq's call itself (`paybridge.libpq`). As with `DriverRead`, a driver error is
    raised as SQLAlchemy's, so the unit's retries and the 503 answers see the same errors, and
    a connection found dead is discarded."""
    connection = session.connection()
    sql = _driver_text(statement, connection.dialect)
    driver: Any = connection.connection.driver_connection  # psycopg's Connection
    with driver_errors_raised(connection, sql, params):
        return libpq.rows(driver, sql, params)


@contextmanager
def driver_errors_raised(
    connection: sa.Connection, sql: str, params: Mapping[str, Any] | Sequence[Any]
) -> Iterator[None]:
    """Around statements sent on a Core connection's psycopg connection itself: a driver error
    raised as `Connection.execute` would raise it (the 503 path and the contention retries know
    those, not psycopg's), the connection discarded if it died."""
    try:
        yield
    except connection.dialect.loaded_dbapi.Error as error:
        raise _driver_error(connection.engine, connection.connection, sql, params, error) from error


@functools.cache
def _driver_text(statement: sa.TextClause, dialect: sa.Dialect) -> str:
    """The statement in psycopg's placeholders (`:name` becomes `%(name)s`)."""
    return str(statement.compile(dialect=dialect))


@contextmanager
def write_session() -> Iterator[Session]:
    """A session for one service call: the caller commits; anything unfinished rolls back.

    On SQLite it starts with BEGIN IMMEDIATE so the balance check and the debit that follows
    cannot interleave with another writer. Inside a unit (see `Unit`) it is a SAVEPOINT of the
    unit's transaction.
    """
    unit = _unit.get()
    if unit is not None:
        session = unit.session()
    else:
        engine = get_engine()
        bind = engine.execution_options(sqlite_immediate=True) if is_sqlite(engine) else engine
        session = Session(bind, expire_on_commit=False)
    with session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise

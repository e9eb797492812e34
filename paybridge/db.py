"""The engine and session factories shared by services, selectors, the API, states and the worker.

SQLite is the zero-setup default: WAL mode, a busy timeout, and `BEGIN IMMEDIATE` for write
sessions so that concurrent writers queue for the single write lock instead of failing.
PostgreSQL writers serialise on row locks taken by the services.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from paybridge.settings import get_settings

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


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, pool_pre_ping=True
        )
        _configure_sqlite(engine)
        return engine
    # A database that is down or unreachable fails a request within seconds instead of hanging
    # it: connecting gives up after PAYBRIDGE_DB_CONNECT_TIMEOUT, waiting for a pooled
    # connection after PAYBRIDGE_DB_POOL_TIMEOUT. pool_pre_ping replaces connections that died
    # while the server restarted, so nothing needs a restart when it is back.
    connect_args = {}
    if url.startswith("postgresql") and "connect_timeout" not in url:
        connect_args["connect_timeout"] = _env_int("PAYBRIDGE_DB_CONNECT_TIMEOUT", 5)
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=_env_int("PAYBRIDGE_DB_POOL_SIZE", 10),
        max_overflow=_env_int("PAYBRIDGE_DB_MAX_OVERFLOW", 20),
        pool_timeout=_env_int("PAYBRIDGE_DB_POOL_TIMEOUT", 10),
        connect_args=connect_args,
    )


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw.isdigit() else default


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" hook issue BEGIN itself
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    return make_engine(get_settings().database_url)


def is_sqlite(engine: Engine | None = None) -> bool:
    return (engine or get_engine()).dialect.name == "sqlite"


class Unit:
    """One database transaction that several service calls share (see `unit_begin`).

    While it is the current unit (`unit_activate`), `write_session()` and `read_session()` join
    it: a service's `session.commit()` only releases a SAVEPOINT and its rollback only undoes its
    own work, and whatever it wants to do after committing (publishing events) waits in
    `after_commit` until the unit itself commits. So an API request can store its
    `Idempotency-Key` response in the same transaction as the write it answers for.
    """

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection
        self.after_commit: list[Callable[[], None]] = []

    def session(self) -> Session:
        return Session(
            self.connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
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


def unit_begin() -> Unit:
    """Open a connection and begin a transaction (BEGIN IMMEDIATE on SQLite). The caller makes
    it current with `unit_activate` and ends it with `Unit.commit` or `Unit.rollback`."""
    engine = get_engine()
    bind = engine.execution_options(sqlite_immediate=True) if is_sqlite(engine) else engine
    connection = bind.connect()
    try:
        connection.begin()
    except BaseException:
        connection.close()
        raise
    return Unit(connection)


def unit_activate(unit: Unit | None):  # type: ignore[no-untyped-def]
    """Make `unit` the current one in this context; returns a token for `unit_deactivate`."""
    return _unit.set(unit)


def unit_deactivate(token) -> None:  # type: ignore[no-untyped-def]
    _unit.reset(token)


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


@contextmanager
def read_session() -> Iterator[Session]:
    """A session for selectors; it never commits. Inside a unit it sees the unit's writes."""
    unit = _unit.get()
    with unit.session() if unit else Session(get_engine(), expire_on_commit=False) as session:
        yield session


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

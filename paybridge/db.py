"""The engine and session factories shared by services, selectors, the API, states and the worker.

SQLite is the zero-setup default: WAL mode, a busy timeout, and `BEGIN IMMEDIATE` for write
sessions so that concurrent writers queue for the single write lock instead of failing.
PostgreSQL writers serialise on row locks taken by the services.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from paybridge.settings import get_settings

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


def _ensure_sqlite_folder(url: str) -> None:
    """SQLite creates a missing database file but not its folder (the default's `data/`)."""
    database = sa.engine.make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        _ensure_sqlite_folder(url)
        engine = sa.create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, pool_pre_ping=True
        )
        _configure_sqlite(engine)
        return engine
    # A database that is down or unreachable fails a request within seconds instead of hanging
    # it: connecting gives up after PAYBRIDGE_DB_CONNECT_TIMEOUT, waiting for a pooled
    # connection after PAYBRIDGE_DB_POOL_TIMEOUT (then 503 with Retry-After). pool_pre_ping
    # replaces connections that died while the server restarted, so nothing needs a restart when
    # it is back. The pool is this process's share of max_connections (`connection_plan`), with
    # no overflow: every process of every instance together never exceeds it.
    connect_args: dict[str, object] = {}
    if url.startswith("postgresql"):
        if "connect_timeout" not in url:
            connect_args["connect_timeout"] = _env_int("PAYBRIDGE_DB_CONNECT_TIMEOUT", 5)
        if os.environ.get("PAYBRIDGE_DB_PGBOUNCER") == "1":
            # Transaction pooling: no server-side prepared statements (PgBouncer 1.18 cannot
            # route them) and no startup options (deploy/pgbouncer.ini sets the same limits).
            connect_args["prepare_threshold"] = None
        else:
            connect_args["options"] = postgresql_session_options()
    engine = sa.create_engine(
        url,
        pool_size=connection_plan(server_connection_limit(url, connect_args)).per_process,
        max_overflow=_env_int("PAYBRIDGE_DB_MAX_OVERFLOW", 0),
        pool_timeout=_env_int("PAYBRIDGE_DB_POOL_TIMEOUT", 3),
        connect_args=connect_args,
    )
    _ping_when_idle(engine)
    if engine.dialect.name == "postgresql":
        _begin_explicitly(engine)
    return engine


READS = "paybridge_reads"  # execution option: statements on this bind run without BEGIN


def _begin_explicitly(engine: Engine) -> None:
    """Keep psycopg's connections in autocommit and let SQLAlchemy's begin hook send BEGIN,
    except on the read bind (`READS`).

    Under READ COMMITTED every statement takes its own snapshot even inside a transaction, so
    the BEGIN and ROLLBACK around a read bought nothing but two round trips. SQLAlchemy's own
    AUTOCOMMIT isolation level would switch each connection in and out of autocommit on every
    checkout (four driver calls); here nothing is switched: writes get an explicit BEGIN and
    COMMIT, reads a single statement."""

    @event.listens_for(engine, "connect")
    def _autocommit(dbapi_conn: Any, _record: object) -> None:
        dbapi_conn.autocommit = True

    @event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        if not conn.get_execution_options().get(READS, False):
            conn.exec_driver_sql("BEGIN")


PING_AFTER_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only when it sat idle for over a second.

    `pool_pre_ping` pings on every checkout: a round trip that cost a one-row API read a
    seventh of its CPU. A connection used a moment ago is as alive as a ping could show (the
    rule HikariCP uses), and one that died in that moment fails its statement with an error
    SQLAlchemy recognises as a disconnect, which discards it and answers 503 like any outage.
    """

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is not None and time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as error:
            raise sa.exc.DisconnectionError(str(error)) from error


@dataclass(frozen=True)
class ConnectionPlan:
    """How many connections each app process may hold so that every process of every instance
    together stays below PostgreSQL's `max_connections`, with `reserve` left over for the
    worker, migrations, the CLI and an operator's psql."""

    per_process: int
    processes: int  # Granian workers of one instance (set by `python -m paybridge serve`)
    instances: int  # PAYBRIDGE_INSTANCES: how many instances share the database
    server_limit: int  # PostgreSQL's max_connections
    reserve: int

    @property
    def total(self) -> int:
        return self.per_process * self.processes * self.instances

    @property
    def fits(self) -> bool:
        return self.per_process >= MIN_POOL and self.total <= self.server_limit - self.reserve

    def describe(self) -> str:
        return (
            f"{self.instances} instance(s) x {self.processes} worker(s) x {self.per_process} "
            f"connections = {self.total} of PostgreSQL's max_connections {self.server_limit} "
            f"({self.reserve} kept for the worker, migrations and operators)"
        )


MIN_POOL, MAX_POOL = 2, 20


def connection_plan(server_limit: int) -> ConnectionPlan:
    """The pool of one app process: PAYBRIDGE_DB_POOL_SIZE when set, else an equal share of
    what the server allows (2 to 20 connections; a worker's payments go through two writer
    threads, so a few connections carry a lot)."""
    processes = max(_env_int("PAYBRIDGE_APP_PROCESSES", 1), 1)
    instances = max(_env_int("PAYBRIDGE_INSTANCES", 1), 1)
    reserve = _env_int("PAYBRIDGE_DB_RESERVE", 20)
    share = (server_limit - reserve) // (processes * instances)
    per_process = _env_int("PAYBRIDGE_DB_POOL_SIZE", 0) or max(MIN_POOL, min(MAX_POOL, share))
    return ConnectionPlan(per_process, processes, instances, server_limit, reserve)


def server_connection_limit(url: str, connect_args: dict[str, object] | None = None) -> int:
    """PostgreSQL's max_connections: PAYBRIDGE_DB_MAX_CONNECTIONS when set (e.g. PgBouncer's
    pool), else asked once; 100 (the server's default) when it cannot be asked."""
    configured = _env_int("PAYBRIDGE_DB_MAX_CONNECTIONS", 0)
    if configured:
        return configured
    try:
        probe = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args=connect_args or {})
        try:
            with probe.connect() as connection:
                return int(connection.exec_driver_sql("SHOW max_connections").scalar_one())
        finally:
            probe.dispose()
    except sa.exc.SQLAlchemyError:
        log.warning("could not read max_connections; sizing pools for 100")
        return 100


def postgresql_session_options() -> str:
    """Server-side limits on every app connection, so that a leak anywhere costs seconds, not
    an outage: a transaction left open and idle is ended by the server, a lock wait or a
    statement that runs away fails (answered 503, nothing written) instead of queueing every
    other writer behind it. Migrations lift the statement limit for their own transaction."""
    limits = {
        "idle_in_transaction_session_timeout": _env_int("PAYBRIDGE_DB_IDLE_TX_TIMEOUT_MS", 10_000),
        "lock_timeout": _env_int("PAYBRIDGE_DB_LOCK_TIMEOUT_MS", 10_000),
        "statement_timeout": _env_int("PAYBRIDGE_DB_STATEMENT_TIMEOUT_MS", 30_000),
    }
    return " ".join(f"-c {name}={value}" for name, value in limits.items())


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw.isdigit() else default


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: object) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" hook issue BEGIN itself
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    return make_engine(get_settings().database_url)


def is_sqlite(engine: Engine | None = None) -> bool:
    return (engine or get_engine()).dialect.name == "sqlite"


class Unit:
    """One database transaction that several service calls share (see `in_unit`).

    While it is the current unit, `write_session()` and `read_session()` join it: a service's
    `session.commit()` only releases a SAVEPOINT and its rollback only undoes its own work, and
    whatever it wants to do after committing (publishing events) waits in `after_commit` until
    the unit itself commits. So an API request can store its `Idempotency-Key` response in the
    same transaction as the write it answers for.
    """

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection
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

# SQLSTATEs that mean "another transaction got in the way; run yours again": PostgreSQL's
# manual (13.5, serialization failure handling) asks applications to retry exactly these.
CONTENTION_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
CONTENTION_ATTEMPTS = 5


def is_contention(error: BaseException) -> bool:
    """A serialization failure or deadlock: nothing was committed and a rerun may succeed."""
    orig = getattr(error, "orig", None)
    return getattr(orig, "sqlstate", None) in CONTENTION_SQLSTATES


def _contention_pause(attempt: int) -> float:
    """Full jitter over an exponential cap (5, 10, 20, 40 ms): racers spread out."""
    return random.uniform(0, 0.005 * 2 ** (attempt - 1))


def unit_begin() -> Unit:
    """Open a connection and begin a transaction (BEGIN IMMEDIATE on SQLite)."""
    engine = get_engine()
    bind = engine.execution_options(sqlite_immediate=True) if is_sqlite(engine) else engine
    connection = bind.connect()
    try:
        connection.begin()
    except BaseException:
        connection.close()
        raise
    return Unit(connection)


def in_unit(work: Callable[[], T], *, attempts: int = CONTENTION_ATTEMPTS) -> T:
    """Run `work` as ONE database transaction, begun, committed or rolled back in this thread.

    Every service call inside `work` joins the unit (`write_session`/`read_session`); events
    go on the bus after the commit. A serialization failure or deadlock rolls everything back
    and runs `work` again (at most `attempts` times, with jitter), so every check inside it —
    a balance, an idempotency key — is made afresh. Nothing here awaits: a connection is never
    held by a coroutine that could be cancelled or starved of threads between two statements.
    Inside another unit, `work` simply joins it (the outer unit owns retries).
    """
    if _unit.get() is not None:
        return work()
    for attempt in range(1, attempts + 1):
        unit = unit_begin()
        token = _unit.set(unit)
        try:
            result = work()
        except BaseException as error:
            unit.rollback()
            if attempt < attempts and is_contention(error):
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
            if attempt < attempts and is_contention(error):
                _count_retry(error)
                time.sleep(_contention_pause(attempt))
                continue
            raise
        return result
    raise AssertionError("unreachable")  # pragma: no cover


def retry_on_contention(service: Callable[P, T]) -> Callable[P, T]:
    """Decorate a service write (one `write_session` transaction): a deadlock or serialization
    failure reruns the whole call, checks included. Inside a unit the unit reruns instead."""

    @functools.wraps(service)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        if _unit.get() is not None:
            return service(*args, **kwargs)
        for attempt in range(1, CONTENTION_ATTEMPTS + 1):
            try:
                return service(*args, **kwargs)
            except Exception as error:
                if attempt == CONTENTION_ATTEMPTS or not is_contention(error):
                    raise
                _count_retry(error)
                time.sleep(_contention_pause(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    return run


def _count_retry(error: BaseException) -> None:
    from paybridge.metrics import increment

    increment("db_contention_retries")
    log.info("retrying a unit after %s", getattr(error.orig, "sqlstate", "?"))  # type: ignore[attr-defined]


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

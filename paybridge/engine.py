"""The database engine of this process: how it connects (pool size from the connection budget,
server-side limits, pings for idle connections, explicit BEGIN on PostgreSQL) and SQLite's
settings for the zero-setup default. Units of work and sessions are in `paybridge.db`.

SQLite is the zero-setup default: WAL mode, a busy timeout, and `BEGIN IMMEDIATE` for write
sessions so that concurrent writers queue for the single write lock instead of failing.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import pq
from sqlalchemy import event
from sqlalchemy.engine import Engine

from paybridge import libpq
from paybridge.settings import get_settings

log = logging.getLogger(__name__)


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
        _forget_statements_on_rollback(engine)
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
            _send_begin(conn)


def _forget_statements_on_rollback(engine: Engine) -> None:
    """psycopg deallocates all of a connection's prepared statements after a ROLLBACK (to a
    savepoint too): `libpq` prepares its own again after one, whoever sent it. The events
    come before the rollback, while the connection still says whether it has a transaction."""

    @event.listens_for(engine, "rollback")
    def _rolling_back(conn: sa.Connection) -> None:
        libpq.before_rollback(_driver_of(conn))

    @event.listens_for(engine, "rollback_savepoint")
    def _savepoint_rolled_back(conn: sa.Connection, _name: str, _context: object) -> None:
        libpq.forget(_driver_of(conn))

    @event.listens_for(engine, "reset")
    def _reset(dbapi_conn: Any, _record: object, _state: object) -> None:
        libpq.before_rollback(dbapi_conn)


def _driver_of(conn: sa.Connection) -> Any:
    """The psycopg connection under `conn`; None for one closed or invalidated, where
    `conn.connection` would refuse (an invalid transaction) or check out a new connection."""
    if conn.closed or conn.invalidated:
        return None
    return conn.connection.driver_connection


def _send_begin(conn: sa.Connection) -> None:
    """BEGIN through libpq itself: SQLAlchemy's statement path around it cost ~75 µs of CPU
    on every write transaction (a group-commit batch's included). psycopg reads the
    transaction's state from libpq, so its commit and rollback see the BEGIN all the same.
    Anything but a plain success goes the statement path again, which raises the error as
    SQLAlchemy's (the 503 answers and the pool's invalidation of a dead connection know those)."""
    pgconn = conn.connection.driver_connection.pgconn  # type: ignore[union-attr]
    try:
        if pgconn.exec_(b"BEGIN").status == pq.ExecStatus.COMMAND_OK:
            return
    except psycopg.Error:
        pass
    if pgconn.transaction_status != pq.TransactionStatus.INTRANS:
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

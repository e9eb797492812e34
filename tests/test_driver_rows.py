"""`driver_rows`: the payment writer's statements sent through libpq itself must behave like
SQLAlchemy's execute — rows by column name, the unit's transaction, and failures raised as the
SQLAlchemy errors that the retries and the API's 503 answers look for."""

from __future__ import annotations

import time

import psycopg
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from paybridge import libpq
from paybridge.db import driver_rows, in_unit, is_contention, read_session, write_session
from paybridge.engine import get_engine, make_engine
from paybridge.models import Provider
from paybridge.models.tables import TextArray
from paybridge.selectors.statements import fetch
from tests.conftest import TestDatabase

ROWS = sa.text(
    "SELECT n.ord, n.name FROM unnest(CAST(:names AS text[])) WITH ORDINALITY AS n(name, ord)"
)
RENAME = sa.text("UPDATE providers SET display_name = :name WHERE code = :code")
SERIALIZATION_FAILURE = sa.text(
    "DO $$ BEGIN RAISE EXCEPTION 'make way' USING ERRCODE = '40001'; END $$"
)


@pytest.fixture
def postgresql(db: TestDatabase, providers: dict[str, Provider]) -> TestDatabase:
    if db.is_sqlite:
        pytest.skip("psycopg's connection: PostgreSQL only")
    return db


def provider_name(code: str) -> str:
    with read_session() as session:
        return session.exec(select(Provider.display_name).where(Provider.code == code)).one()


def test_rows_come_back_by_name_and_in_order(postgresql: TestDatabase) -> None:
    with write_session() as session:
        rows = driver_rows(session, ROWS, {"names": TextArray(["a", "b'c", "ü"])})
        assert [(row.ord, row.name) for row in rows] == [(1, "a"), (2, "b'c"), (3, "ü")]
        assert driver_rows(session, RENAME, {"name": "Card", "code": "card"}) == []
        unnamed = driver_rows(session, sa.text("SELECT 1, 2 AS two, 3 AS two"), {})
        assert unnamed == [(1, 2, 3)] and unnamed[0].two == 2


def test_a_statement_is_part_of_its_unit(postgresql: TestDatabase) -> None:
    before = provider_name("card")

    def rename_then_fail() -> None:
        with write_session() as session:
            driver_rows(session, RENAME, {"name": "renamed", "code": "card"})
        raise RuntimeError("the unit fails after the statement")

    with pytest.raises(RuntimeError):
        in_unit(rename_then_fail, savepoints=False)
    assert provider_name("card") == before

    def rename() -> None:
        with write_session() as session:
            driver_rows(session, RENAME, {"name": "renamed", "code": "card"})
            session.commit()

    in_unit(rename, savepoints=False)
    assert provider_name("card") == "renamed"


def test_a_constraint_violation_is_sqlalchemys_integrity_error(postgresql: TestDatabase) -> None:
    duplicate = sa.text(
        "INSERT INTO providers (code, display_name, fee_bps, fee_fixed, is_active)"
        " SELECT code, display_name, fee_bps, fee_fixed, is_active FROM providers"
        " WHERE code = :code"
    )
    with pytest.raises(sa.exc.IntegrityError) as raised, write_session() as session:
        driver_rows(session, duplicate, {"code": "card"})
    assert raised.value.orig.sqlstate == "23505"  # type: ignore[union-attr]


def test_contention_is_recognised_and_the_unit_runs_again(postgresql: TestDatabase) -> None:
    attempts = []

    def work() -> None:
        attempts.append(1)
        with write_session() as session:
            driver_rows(session, RENAME, {"name": f"attempt {len(attempts)}", "code": "card"})
            if len(attempts) == 1:
                driver_rows(session, SERIALIZATION_FAILURE, {})

    in_unit(work, savepoints=False)
    assert len(attempts) == 2
    assert provider_name("card") == "attempt 2"


def test_a_statement_past_its_time_is_an_operational_error(postgresql: TestDatabase) -> None:
    with pytest.raises(sa.exc.OperationalError) as raised, write_session() as session:
        session.execute(sa.text("SET LOCAL statement_timeout = 50"))
        driver_rows(session, sa.text("SELECT pg_sleep(:seconds)"), {"seconds": 2})
    assert raised.value.orig.sqlstate == "57014"  # type: ignore[union-attr]
    assert not is_contention(raised.value)


def test_a_connection_that_died_is_discarded(postgresql: TestDatabase) -> None:
    """The server ends the writer's connection mid-unit: the unit fails as a disconnect, and
    the next unit gets a live connection from the pool, not the dead one."""
    killed: list[int] = []

    def die() -> None:
        with write_session() as session:
            killed.append(
                driver_rows(session, sa.text("SELECT pg_backend_pid() AS pid"), {})[0].pid
            )
            driver_rows(session, sa.text("SELECT pg_terminate_backend(pg_backend_pid())"), {})

    with pytest.raises(sa.exc.OperationalError) as raised:  # answered 503
        in_unit(die, savepoints=False)
    assert raised.value.connection_invalidated
    for _ in range(25):  # more than the pool holds: every pooled connection is alive
        with write_session() as session:
            (row,) = driver_rows(session, sa.text("SELECT pg_backend_pid() AS pid"), {})
            assert row.pid != killed[0]


def test_a_dashboard_read_past_its_time_is_an_operational_error(postgresql: TestDatabase) -> None:
    """`selectors.statements.fetch` (the dashboard's and `/analytics`' reads) also runs on the
    driver: a statement timeout there is SQLAlchemy's OperationalError, answered 503."""
    slow = sa.select(sa.func.pg_sleep(sa.bindparam("seconds", type_=sa.Float())))
    with pytest.raises(sa.exc.OperationalError) as raised, write_session() as session:
        session.execute(sa.text("SET LOCAL statement_timeout = 50"))
        fetch(session, slow, {"seconds": 2})
    assert raised.value.orig.sqlstate == "57014"  # type: ignore[union-attr]


def test_a_connection_dead_before_its_begin_is_a_disconnect(postgresql: TestDatabase) -> None:
    """BEGIN goes through libpq itself (`engine._send_begin`): on a connection the server has
    ended it still fails as SQLAlchemy's disconnect, and the pool drops the connection."""
    engine = get_engine()
    with engine.connect() as doomed:
        pid = doomed.connection.driver_connection.info.backend_pid  # type: ignore[union-attr]
        with engine.connect() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            for _ in range(100):  # until the backend has gone
                gone = other.execute(
                    sa.text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": pid},
                ).scalar_one()
                if gone:
                    break
                time.sleep(0.02)
            other.commit()
        with pytest.raises(sa.exc.DBAPIError) as raised:
            doomed.begin()
        assert raised.value.connection_invalidated
    with write_session() as session:  # the pool holds no dead connection
        (row,) = driver_rows(session, sa.text("SELECT pg_backend_pid() AS pid"), {})
        assert row.pid != pid


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _prepared_here(connection: psycopg.Connection[object], sql: bytes) -> int:
    row = connection.execute(
        "SELECT count(*) FROM pg_prepared_statements WHERE statement = %s", [sql.decode()]
    ).fetchone()
    assert row is not None
    return int(row[0])  # type: ignore[call-overload]


def test_a_statement_keeps_its_literal_percent_and_a_repeated_parameter(
    postgresql: TestDatabase,
) -> None:
    twice = sa.text("SELECT CAST(:a AS text) || '%' AS b, CAST(:a AS text) AS c, :n + 1 AS m")
    with write_session() as session:
        assert [tuple(row) for row in driver_rows(session, twice, {"a": "x", "n": 41})] == [
            ("x%", "x", 42)
        ]


def test_a_statement_is_prepared_once_a_connection_and_again_when_the_server_forgot_it(
    postgresql: TestDatabase,
) -> None:
    sql = "SELECT n.name FROM unnest(CAST(%(names)s AS text[])) AS n(name)"
    names = {"names": TextArray(["a", "b"])}
    with psycopg.connect(_plain(postgresql.url), autocommit=True) as connection:
        for _ in range(3):
            assert [row.name for row in libpq.rows(connection, sql, names)] == ["a", "b"]
        assert _prepared_here(connection, libpq.statement(sql).sql) == 1
        connection.execute("DEALLOCATE ALL")  # as an operator, or a pooler, might
        with pytest.raises(psycopg.errors.InvalidSqlStatementName):
            libpq.rows(connection, sql, names)
        assert [row.name for row in libpq.rows(connection, sql, names)] == ["a", "b"]
        assert _prepared_here(connection, libpq.statement(sql).sql) == 1


def test_no_statement_is_prepared_where_the_connection_says_not_to(
    postgresql: TestDatabase,
) -> None:
    """PgBouncer's transaction pooling (`PAYBRIDGE_DB_PGBOUNCER`): no server-side statements."""
    sql = "SELECT CAST(%(n)s AS bigint) + 1 AS m"
    with psycopg.connect(
        _plain(postgresql.url), autocommit=True, prepare_threshold=None
    ) as connection:
        for n in range(3):
            assert libpq.rows(connection, sql, {"n": n})[0].m == n + 1
        assert _prepared_here(connection, libpq.statement(sql).sql) == 0


def test_a_statement_runs_after_a_rollback_dropped_the_connections_statements(
    postgresql: TestDatabase,
) -> None:
    """psycopg deallocates all of a connection's prepared statements after a ROLLBACK once it
    has prepared one of its own: the writer's statement is prepared again, not failed."""
    names = {"names": TextArray(["a"])}
    sql = libpq.statement(str(ROWS.compile(dialect=get_engine().dialect))).sql
    with get_engine().connect() as connection:
        session = Session(bind=connection)
        for _ in range(6):  # psycopg prepares a statement of its own after five runs
            connection.execute(sa.text("SELECT 1"))
        assert driver_rows(session, ROWS, names)[0].name == "a"
        driver: psycopg.Connection[object] = connection.connection.driver_connection  # type: ignore[assignment]
        connection.rollback()
        assert _prepared_here(driver, sql) == 0  # gone from the server
        assert driver_rows(session, ROWS, names)[0].name == "a"
        assert _prepared_here(driver, sql) == 1
        connection.rollback()


def test_a_unit_whose_statement_the_server_forgot_runs_again(postgresql: TestDatabase) -> None:
    attempts = []

    def work() -> str:
        attempts.append(1)
        with write_session() as session:
            rows = driver_rows(session, ROWS, {"names": TextArray(["a"])})
            if len(attempts) == 1:  # as if psycopg had deallocated everything meanwhile
                session.connection().connection.driver_connection.pgconn.exec_(  # type: ignore[union-attr]
                    b"DEALLOCATE ALL"
                )
                driver_rows(session, ROWS, {"names": TextArray(["b"])})
            return str(rows[0].name)

    assert in_unit(work, savepoints=False) == "a"
    assert len(attempts) == 2


def test_a_statement_stays_prepared_across_commits_and_returns_to_the_pool(
    postgresql: TestDatabase,
) -> None:
    """Prepared again only after a real rollback: a connection that committed and went back to
    the pool keeps its statements (a statement prepared anew would show twice on the server)."""
    engine = make_engine(postgresql.url)  # one connection, used in turn
    sql = libpq.statement(str(ROWS.compile(dialect=engine.dialect))).sql
    try:
        for _ in range(3):
            with engine.connect() as connection:
                assert driver_rows(Session(bind=connection), ROWS, {"names": TextArray(["a"])})
                connection.commit()
        with engine.connect() as connection:
            driver: psycopg.Connection[object] = connection.connection.driver_connection  # type: ignore[assignment]
            assert _prepared_here(driver, sql) == 1
    finally:
        engine.dispose()


def test_a_connection_invalidated_in_a_transaction_still_rolls_back(
    postgresql: TestDatabase,
) -> None:
    """The engine's rollback hook reads the driver connection only where there is one: on an
    invalidated connection it must not refuse the rollback or check out another connection."""
    engine = make_engine(postgresql.url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
            connection.invalidate()
            connection.rollback()
            assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        engine.dispose()

"""A statement sent through libpq itself, below psycopg's cursor: for the payment writer's
statements, where the cursor's Python (its query conversion, its prepare bookkeeping, its
generators around each round trip) cost more CPU than the conversions of the values and the
rows, which are psycopg's own here too (its `Transformer`, in C).

The statement is converted once (`%(name)s` placeholders to `$n`) and, unless the connection
says no server-side prepared statements (PgBouncer's transaction pooling), prepared on each
connection the first time it runs there, as psycopg's cursor would after a few runs. A
failure is raised as psycopg raises it. psycopg deallocates all of a connection's prepared
statements after a ROLLBACK (to a savepoint too), a DROP or an ALTER it runs: the engine
tells this module of every rollback, and a statement the server no longer knows all the same
fails with SQLSTATE 26000, which makes its unit run again (`db.is_rerunnable`) and prepare
it anew.
"""

from __future__ import annotations

import functools
import itertools
import re
import weakref
from collections import namedtuple
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors, pq
from psycopg.abc import Transformer as Conversions
from psycopg.adapt import PyFormat, Transformer

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")
_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
_names = itertools.count()
# A connection's prepared statements: (SQL, parameter types) to the name on that connection.
Key = tuple[bytes, tuple[int, ...]]
_prepared: weakref.WeakKeyDictionary[psycopg.Connection[Any], dict[Key, bytes]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class Statement:
    sql: bytes  # with $1, $2... in the order of `names`
    names: tuple[str, ...]


@functools.cache
def statement(psycopg_sql: str) -> Statement:
    """A statement in psycopg's named placeholders, converted to libpq's numbered ones."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    return Statement(_PLACEHOLDER.sub(number, psycopg_sql).encode(), tuple(order))


@functools.cache
def _row_type(fields: tuple[str, ...]) -> Any:
    # The server's column names; one that is no identifier (`?column?`) or comes twice is
    # renamed by position (`_0`), where it would otherwise fail the statement's caller.
    return namedtuple("Row", fields, rename=True)


def rows(driver: psycopg.Connection[Any], sql: str, params: Mapping[str, Any]) -> list[Any]:
    """Run `sql` (psycopg's placeholders) on `driver` in its current transaction and return its
    rows as named tuples ([] for a statement that returns none)."""
    prepared = statement(sql)
    transformer = Transformer.from_context(driver)
    values = transformer.dump_sequence(
        [params[name] for name in prepared.names], [PyFormat.AUTO] * len(prepared.names)
    )
    result = _execute(driver, prepared, values, transformer)
    if result.status not in _OK:
        raise _error(driver, result)
    if not result.nfields:
        return []
    transformer.set_pgresult(result)
    fields = tuple(
        (result.fname(i) or b"").decode(driver.info.encoding) for i in range(result.nfields)
    )
    return transformer.load_rows(0, result.ntuples, _row_type(fields)._make)


def _execute(
    driver: psycopg.Connection[Any],
    prepared: Statement,
    values: Any,
    transformer: Conversions,
) -> pq.abc.PGresult:
    pgconn = driver.pgconn
    if driver.prepare_threshold is None:  # no server-side prepared statements
        return pgconn.exec_params(prepared.sql, values, transformer.types, transformer.formats)
    names = _prepared.setdefault(driver, {})
    key = (prepared.sql, tuple(transformer.types or ()))
    name = names.get(key)
    if name is None:
        name = f"pb_{next(_names)}".encode()
        made = pgconn.prepare(name, prepared.sql, transformer.types)
        if made.status != pq.ExecStatus.COMMAND_OK:
            raise _error(driver, made)
        names[key] = name
    return pgconn.exec_prepared(name, values, transformer.formats)


def before_rollback(driver: Any) -> None:
    """psycopg is about to roll back on `driver`: only when there is a transaction to roll
    back does it send a ROLLBACK, and with it deallocate every prepared statement (a pooled
    connection is reset, and a read ends, with nothing to roll back: those keep theirs)."""
    if driver is not None and driver.pgconn.transaction_status != pq.TransactionStatus.IDLE:
        forget(driver)


def forget(driver: Any) -> None:
    """The connection's prepared statements may be gone: prepare them again when next run
    (`driver` None: a connection already discarded)."""
    if driver is not None:
        _prepared.pop(driver, None)


def _error(driver: psycopg.Connection[Any], result: pq.abc.PGresult) -> psycopg.Error:
    """The statement's failure as psycopg's cursor would raise it: a lost connection is an
    OperationalError (what the API answers 503), not the bare DatabaseError libpq's result
    alone would make."""
    error = errors.error_from_result(result, encoding=driver.info.encoding)
    if driver.pgconn.status != pq.ConnStatus.OK and not isinstance(error, psycopg.OperationalError):
        return psycopg.OperationalError(str(error))
    if isinstance(error, errors.InvalidSqlStatementName):
        forget(driver)
    return error

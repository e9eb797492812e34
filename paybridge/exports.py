"""CSV export of a merchant's filtered payments, streamed in constant memory.

`transactions_csv` reads the rows in keyset batches (the selectors' filter and keyset terms;
each batch a short query in its own read session, the next one read ahead on a helper thread)
and yields one encoded chunk per batch, so a million rows never sit in memory at once and no
database connection is held while the client reads. Amounts are exact major units with their
currency (never floats); timestamps are ISO 8601 with the offset of the merchant's timezone,
which the header names. On PostgreSQL the database writes each line; elsewhere Python does, to
the same bytes.

Progress: after every chunk the export records how many rows it has produced under an export
id the page chose (`ExportProgress`: in process, or in Redis when REDIS_URL is set so that any
worker can read it); the page polls it against the total it counted for the same snapshot.
"""

from __future__ import annotations

import csv
import io
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import select

from paybridge.db import read_session
from paybridge.models import Provider, Transaction
from paybridge.money import CURRENCY_EXPONENTS, exponent
from paybridge.selectors.pagination import beyond
from paybridge.selectors.transactions import (
    TransactionFilters,
    filter_conditions,
    sort_order,
    transaction_batches,
)
from paybridge.settings import get_settings

T = TypeVar("T")
BATCH_SIZE = 5000
PROGRESS_TTL = 3600  # seconds a finished or abandoned export's progress is kept
EXPORT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# Cells a spreadsheet would run as a formula get a leading apostrophe (OWASP CSV injection).
_FORMULA_START = frozenset("=+-@\t\r")


def csv_header(tz: str) -> list[str]:
    return [
        "reference",
        f"created_at ({tz})",
        f"updated_at ({tz})",
        "status",
        "currency",
        "amount",
        "fee",
        "net",
        "refunded",
        "provider",
        "customer_email",
    ]


def major_units(minor: int, exp: int) -> str:
    """Exact major units without grouping: (123456, 2) -> '1234.56', (-5, 2) -> '-0.05'."""
    sign = "-" if minor < 0 else ""
    if exp == 0:
        return f"{minor}"
    whole, frac = divmod(abs(minor), 10**exp)
    return f"{sign}{whole}.{frac:0{exp}d}"


def safe_cell(text: str) -> str:
    return "'" + text if text[:1] in _FORMULA_START else text


def _formatter(exp: int) -> Callable[[int], str]:
    """A fast major_units for amounts (never negative) of one exponent."""
    if exp == 0:
        return str
    if exp == 2:
        cents = [f"{i:02d}" for i in range(100)]
        return lambda minor: f"{minor // 100}.{cents[minor % 100]}"
    return lambda minor: major_units(minor, exp)


def transactions_csv(
    *,
    merchant_id: int,
    filters: TransactionFilters,
    sort: str,
    tz: str,
    on_progress: Callable[[int, bool], None] | None = None,
    batch_size: int = BATCH_SIZE,
    in_python: bool = False,
) -> Iterator[bytes]:
    """The CSV (header first) of every payment matching `filters`, in `sort` order, one chunk
    per keyset batch. `on_progress(rows, finished)` is called after each chunk is taken.

    On PostgreSQL the database writes each CSV line in the batch query (`_pg_line`), which
    leaves Python about a microsecond per row and runs the formatting on the database's own
    core; elsewhere (or with `in_python`) Python formats the rows. Tests compare the two byte
    for byte."""
    with read_session() as session:
        dialect = session.get_bind().dialect.name
    if dialect == "postgresql" and not in_python:
        lines = _lines_from_postgresql(merchant_id, filters, sort, tz, batch_size)
    else:
        lines = _lines_from_python(merchant_id, filters, sort, tz, batch_size)
    header = _csv_line(csv_header(tz))
    rows = 0
    for text, count in read_ahead(lines):
        chunk = text.encode()
        if header:
            chunk, header = header.encode() + chunk, ""
        rows += count
        yield chunk
        if on_progress is not None:
            on_progress(rows, False)
    if header:  # nothing matched: the header alone
        yield header.encode()
    if on_progress is not None:
        on_progress(rows, True)


def _csv_line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()


def _lines_from_python(
    merchant_id: int, filters: TransactionFilters, sort: str, tz: str, batch_size: int
) -> Iterator[tuple[str, int]]:
    """(CSV lines, how many) per keyset batch, formatted in Python."""
    zone = ZoneInfo(tz)
    with read_session() as session:
        codes = {p.id: p.code for p in session.exec(select(Provider)).all()}
    formatters: dict[str, Callable[[int], str]] = {}
    formula = _FORMULA_START
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for batch in transaction_batches(
        merchant_id=merchant_id, filters=filters, sort=sort, batch_size=batch_size
    ):
        out = []
        append = out.append
        for (
            _id,
            reference,
            created_at,
            updated_at,
            status,
            amount,
            currency,
            fee,
            net,
            refunded,
            provider_id,
            email,
        ) in batch:
            money = formatters.get(currency)
            if money is None:
                money = formatters[currency] = _formatter(exponent(currency))
            created = created_at.astimezone(zone).isoformat(timespec="seconds")
            append(
                (
                    reference if reference[:1] not in formula else "'" + reference,
                    created,
                    created
                    if updated_at == created_at
                    else updated_at.astimezone(zone).isoformat(timespec="seconds"),
                    status,
                    currency,
                    money(amount),
                    money(fee),
                    money(net),
                    money(refunded),
                    codes.get(provider_id, ""),
                    email if email[:1] not in formula else "'" + email,
                )
            )
        writer.writerows(out)
        yield buffer.getvalue(), len(out)
        buffer.seek(0)
        buffer.truncate()


def _lines_from_postgresql(
    merchant_id: int, filters: TransactionFilters, sort: str, tz: str, batch_size: int
) -> Iterator[tuple[str, int]]:
    """(CSV lines, how many) per keyset batch, each line written by PostgreSQL (the query
    returns the line, then the sort key and the id for the next batch's keyset condition)."""
    order, descending = sort_order(sort)
    direction = (lambda c: c.desc()) if descending else (lambda c: c.asc())
    key = order[0]
    if key is Transaction.created_at:  # the cursor needs no UTCDateTime conversion per row
        key = sa.type_coerce(key, sa.DateTime(timezone=True))
    query = (
        select(_pg_line(), key, Transaction.id)
        .join(Provider, Provider.id == Transaction.provider_id)
        .where(*filter_conditions(merchant_id, filters))
        .order_by(*(direction(c) for c in order))
        .limit(batch_size)
    )
    cursor: tuple | None = None
    while True:
        batch_query = query
        if cursor is not None:
            batch_query = query.where(beyond(order, cursor, greater=not descending))
        with read_session() as session:
            connection = session.connection()
            # to_char's local time and TZH:TZM follow the session's TimeZone; `true` limits
            # the setting to this read's transaction.
            connection.execute(sa.select(sa.func.set_config("TimeZone", tz, True)))
            rows = connection.execute(batch_query).all()
        if not rows:
            return
        yield "".join([row[0] for row in rows]), len(rows)
        if len(rows) < batch_size:
            return
        cursor = (rows[-1][1], rows[-1][2])


def _pg_line() -> Any:
    """One CSV line (with its CRLF) as a PostgreSQL expression: the same cells, quoting and
    formula guard as the Python path."""

    def local_time(column: Any) -> Any:
        return sa.func.to_char(column, 'YYYY-MM-DD"T"HH24:MI:SSTZH:TZM')

    by_exponent: dict[int, list[str]] = {}
    for code, exp in CURRENCY_EXPONENTS.items():
        by_exponent.setdefault(exp, []).append(code)

    def money(column: Any) -> Any:
        """Minor units times 10^-exp as numeric: its text has exactly `exp` decimals
        (PostgreSQL gives a product the sum of its factors' scales)."""

        def scaled(exp: int) -> Any:
            if exp == 0:
                return sa.cast(column, sa.Text)
            factor = sa.literal_column("0." + "0" * (exp - 1) + "1")
            return sa.cast(sa.cast(column, sa.Numeric) * factor, sa.Text)

        others = [  # codes are 3 letters: a match in the space-separated list is a whole code
            (sa.func.strpos(" ".join(sorted(codes)), Transaction.currency) > 0, scaled(exp))
            for exp, codes in sorted(by_exponent.items())
            if exp != 2
        ]
        return sa.case(*others, else_=scaled(2))

    def text(column: Any) -> Any:
        """Formula guard, then csv's minimal quoting (a comma, quote, CR or LF)."""
        guarded = sa.case(
            (sa.func.left(column, 1).in_(sorted(_FORMULA_START)), sa.literal("'") + column),
            else_=column,
        )
        return sa.case(  # the guard's apostrophe never needs quoting: test the raw value
            (
                column.regexp_match('[,"\r\n]'),
                '"' + sa.func.replace(guarded, '"', '""') + '"',
            ),
            else_=guarded,
        )

    cells = [
        text(Transaction.reference),
        local_time(Transaction.created_at),
        local_time(Transaction.updated_at),
        Transaction.status,
        Transaction.currency,
        money(Transaction.amount),
        money(Transaction.fee),
        money(Transaction.net_amount),
        money(Transaction.refunded_amount),
        Provider.code,
        text(Transaction.customer_email),
    ]
    return sa.func.concat_ws(",", *cells) + "\r\n"


def read_ahead(batches: Iterator[T]) -> Iterator[T]:
    """`batches`, with the next one fetched on a helper thread while the caller formats the
    current one, so the database works in parallel with Python. At most three batches exist
    at once (being read, queued, being formatted); closing this generator stops the thread
    after the batch it is reading."""
    queued: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    end = object()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                queued.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not offer(batch):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            offer(error)
            return
        offer(end)

    threading.Thread(target=produce, name="export-read-ahead", daemon=True).start()
    try:
        while True:
            item = queued.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


# --- progress -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    rows: int
    finished: bool
    cancelled: bool = False


class ExportProgress:
    """Rows produced so far per (merchant, export id); Redis when configured, else memory."""

    _lock = threading.Lock()
    _memory: dict[str, tuple[float, Progress]] = {}

    @staticmethod
    def _key(merchant_id: int, export_id: str) -> str:
        return f"paybridge:export:{merchant_id}:{export_id}"

    @classmethod
    def set(cls, merchant_id: int, export_id: str, progress: Progress) -> None:
        key = cls._key(merchant_id, export_id)
        url = get_settings().redis_url
        if url:
            from paybridge.redis_client import redis_for

            redis_for(url).setex(key, PROGRESS_TTL, json.dumps(progress.__dict__))
            return
        now = time.monotonic()
        with cls._lock:
            for stale in [k for k, (t, _) in cls._memory.items() if now - t > PROGRESS_TTL]:
                del cls._memory[stale]
            cls._memory[key] = (now, progress)

    @classmethod
    def get(cls, merchant_id: int, export_id: str) -> Progress | None:
        key = cls._key(merchant_id, export_id)
        url = get_settings().redis_url
        if url:
            from paybridge.redis_client import redis_for

            raw = redis_for(url).get(key)
            return None if raw is None else Progress(**json.loads(raw))
        with cls._lock:
            found = cls._memory.get(key)
        return None if found is None else found[1]


def export_stream(
    *, merchant_id: int, filters: TransactionFilters, sort: str, tz: str, export_id: str | None
) -> Iterator[bytes]:
    """`transactions_csv` reporting its progress under `export_id` (when given); an export
    whose client went away before the end is marked cancelled."""
    if export_id is None:
        yield from transactions_csv(merchant_id=merchant_id, filters=filters, sort=sort, tz=tz)
        return
    rows_done = 0

    def report(rows: int, finished: bool) -> None:
        nonlocal rows_done
        rows_done = rows
        ExportProgress.set(merchant_id, export_id, Progress(rows=rows, finished=finished))

    report(0, False)
    finished = False
    try:
        yield from transactions_csv(
            merchant_id=merchant_id, filters=filters, sort=sort, tz=tz, on_progress=report
        )
        finished = True
    finally:
        if not finished:
            ExportProgress.set(
                merchant_id, export_id, Progress(rows=rows_done, finished=True, cancelled=True)
            )

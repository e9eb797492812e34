"""Reading the rollup grains: a time range split into the coarsest buckets that tile it, and
the SQL that sums them.

`services.rollups` keeps the same count and sums per UTC quarter hour, hour and day and over
all time. A range [start, end) is read as whole UTC days from the daily grain, the whole hours
at its edges from the hourly grain and what is left (a local midnight at :30 or :45, e.g.
Asia/Kolkata) from the quarter-hour grain: a 30-day period reads ~30 daily buckets and at most
~46 hourly ones per (provider, status), whatever the merchant's history.

The statements are built once (`functools.cache`) with bound parameters; each part below has its
own parameter names (a prefix) so that several can go into one statement and one round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col

from paybridge.db import UTCDateTime
from paybridge.models import DailyRollup, HourlyRollup, QuarterRollup, RollupTotal
from paybridge.models.transaction import TransactionStatus

SUMS = ("count", "gross", "fees", "net", "refunded", "refunded_net")
SUCCESS = TransactionStatus.SUCCESS.value
QUARTER, HOUR, DAY = timedelta(minutes=15), timedelta(hours=1), timedelta(days=1)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
P = sa.bindparam


def floor_to(moment: datetime, step: timedelta) -> datetime:
    """The UTC quarter hour, hour or day `moment` falls in."""
    return EPOCH + (moment.astimezone(UTC) - EPOCH) // step * step


def ceil_to(moment: datetime, step: timedelta) -> datetime:
    floor = floor_to(moment, step)
    return floor if floor == moment else floor + step


Range = tuple[datetime, datetime]


@dataclass(frozen=True)
class Pieces:
    """[start, end) tiled by whole UTC days [days), hours in two ranges and quarter hours in two
    ranges (any of them may be empty). A bound that is not on a quarter hour (no timezone has
    had one since the 1970s) leaves out the part of its quarter hour inside the range."""

    days: tuple[date, date]
    hours: tuple[Range, Range]
    quarters: tuple[Range, Range]

    def params(self, prefix: str) -> dict[str, object]:
        (h0, h1), (h2, h3) = self.hours
        (q0, q1), (q2, q3) = self.quarters
        values = dict(d0=self.days[0], d1=self.days[1], h0=h0, h1=h1, h2=h2, h3=h3)
        values |= dict(q0=q0, q1=q1, q2=q2, q3=q3)
        return {prefix + name: value for name, value in values.items()}


def pieces(start: datetime, end: datetime) -> Pieces:
    first_hour, last_hour = ceil_to(start, HOUR), floor_to(end, HOUR)
    if first_hour > last_hour:  # inside one hour
        empty = (end, end)
        return Pieces((end.date(), end.date()), (empty, empty), ((start, end), empty))
    first_day, last_day = ceil_to(first_hour, DAY), floor_to(last_hour, DAY)
    if first_day >= last_day:  # no whole UTC day
        days = (first_day.date(), first_day.date())
        hours = ((first_hour, last_hour), (last_hour, last_hour))
    else:
        days = (first_day.date(), last_day.date())
        hours = ((first_hour, first_day), (last_day, last_hour))
    return Pieces(days, hours, ((start, first_hour), (last_hour, end)))


# --------------------------------------------------------------------------- statement parts


def _sums(table: type) -> list:
    return [col(getattr(table, name)) for name in SUMS]


def _in(column: sa.ColumnElement, prefix: str, *pairs: tuple[str, str]) -> sa.ColumnElement:
    return sa.or_(*(sa.and_(column >= P(prefix + a), column < P(prefix + b)) for a, b in pairs))


def cells_part(prefix: str, merchant: sa.ColumnElement, currency: sa.ColumnElement) -> sa.Select:
    """Sums per (provider_id, status) of one currency over the range of `Pieces.params(prefix)`."""
    d, h, q = DailyRollup, HourlyRollup, QuarterRollup
    parts = [
        sa.select(col(d.provider_id), col(d.status), *_sums(d)).where(
            col(d.merchant_id) == merchant,
            col(d.currency) == currency,
            _in(col(d.day), prefix, ("d0", "d1")),
        ),
        sa.select(col(h.provider_id), col(h.status), *_sums(h)).where(
            col(h.merchant_id) == merchant,
            col(h.currency) == currency,
            _in(col(h.hour), prefix, ("h0", "h1"), ("h2", "h3")),
        ),
        sa.select(col(q.provider_id), col(q.status), *_sums(q)).where(
            col(q.merchant_id) == merchant,
            col(q.currency) == currency,
            _in(col(q.quarter), prefix, ("q0", "q1"), ("q2", "q3")),
        ),
    ]
    both = sa.union_all(*parts).subquery()
    return sa.select(
        both.c.provider_id, both.c.status, *(sa.func.sum(both.c[name]) for name in SUMS)
    ).group_by(both.c.provider_id, both.c.status)


@dataclass(frozen=True)
class SeriesPieces:
    """The period's successful payments by local day: whole hours in [h0, h1) except `cut`
    (hours a local midnight falls inside), and the quarter hours `quarters` (those hours' and
    the period's edges')."""

    hours: Range
    cut: list[datetime]
    quarters: list[datetime]

    def params(self, prefix: str) -> dict[str, object]:
        return {
            prefix + "h0": self.hours[0],
            prefix + "h1": self.hours[1],
            prefix + "cut": self.cut,
            prefix + "quarters": self.quarters,
        }


def series_pieces(start: datetime, end: datetime, midnights: list[datetime]) -> SeriesPieces:
    """`midnights`: the local midnights strictly between start and end (UTC)."""
    first_hour, last_hour = ceil_to(start, HOUR), floor_to(end, HOUR)
    if first_hour > last_hour:
        return SeriesPieces((end, end), [], _quarters(start, end))
    cut = sorted({floor_to(m, HOUR) for m in midnights if floor_to(m, HOUR) != m})
    quarters = _quarters(start, first_hour) + _quarters(last_hour, end)
    for hour in cut:
        quarters += _quarters(hour, hour + HOUR)
    return SeriesPieces((first_hour, last_hour), cut, quarters)


def _quarters(start: datetime, end: datetime) -> list[datetime]:
    first = ceil_to(start, QUARTER)
    return [first + i * QUARTER for i in range(max(0, (end - first) // QUARTER))]


def series_part(
    prefix: str, merchant: sa.ColumnElement, currency: sa.ColumnElement, by_local_day: bool
) -> sa.Select:
    """(t, kept volume, count) of successful payments: t is the local date (PostgreSQL, with
    the `tz` parameter) or the bucket's UTC start (SQLite, grouped by the caller)."""
    h, q = HourlyRollup, QuarterRollup
    hours = sa.select(
        col(h.hour).label("t"), (col(h.gross) - col(h.refunded)).label("kept"), col(h.count)
    ).where(
        col(h.merchant_id) == merchant,
        col(h.currency) == currency,
        col(h.status) == SUCCESS,
        _in(col(h.hour), prefix, ("h0", "h1")),
        col(h.hour).not_in(P(prefix + "cut", expanding=True)),
    )
    quarters = sa.select(
        col(q.quarter).label("t"), (col(q.gross) - col(q.refunded)).label("kept"), col(q.count)
    ).where(
        col(q.merchant_id) == merchant,
        col(q.currency) == currency,
        col(q.status) == SUCCESS,
        col(q.quarter).in_(P(prefix + "quarters", expanding=True)),
    )
    both = sa.union_all(hours, quarters).subquery()
    t = both.c.t
    if by_local_day:
        t = sa.cast(sa.func.timezone(P("tz", type_=sa.String), t), sa.Date)
    return sa.select(t.label("t"), sa.func.sum(both.c.kept), sa.func.sum(both.c["count"])).group_by(
        t
    )


def used_currencies(merchant: sa.ColumnElement) -> sa.Select:
    """(currency, payments) of every currency the merchant has taken payments in."""
    t = RollupTotal
    return (
        sa.select(col(t.currency), sa.func.sum(col(t.count)).label("payments"))
        .where(col(t.merchant_id) == merchant)
        .group_by(col(t.currency))
        .having(sa.func.sum(col(t.count)) > 0)
    )


def kept_net_part(merchant: sa.ColumnElement) -> sa.Select:
    """(currency, net less refunds) of all successful payments, from the totals."""
    t = RollupTotal
    return (
        sa.select(col(t.currency), sa.func.sum(col(t.net) - col(t.refunded_net)))
        .where(col(t.merchant_id) == merchant, col(t.status) == SUCCESS)
        .group_by(col(t.currency))
    )


@dataclass(frozen=True)
class HeldPieces:
    """[cutoff, ∞) as raw payments up to the next quarter hour, quarter hours up to the next
    hour, hours up to the next UTC midnight and whole days after it."""

    raw: Range
    quarters: Range
    hours: Range
    first_day: date

    def params(self) -> dict[str, object]:
        return {
            "held_r0": self.raw[0],
            "held_r1": self.raw[1],
            "held_q0": self.quarters[0],
            "held_q1": self.quarters[1],
            "held_h0": self.hours[0],
            "held_h1": self.hours[1],
            "held_d0": self.first_day,
        }


def held_pieces(cutoff: datetime) -> HeldPieces:
    quarter, hour = ceil_to(cutoff, QUARTER), ceil_to(cutoff, HOUR)
    day = ceil_to(hour, DAY)
    return HeldPieces((cutoff, quarter), (quarter, hour), (hour, day), day.date())


def held_part(merchant: sa.ColumnElement, currencies: sa.Select) -> sa.Select:
    """(currency, net less refunds) of successful payments created at or after the cutoff: at
    most a quarter hour of raw payments, 3 quarter hours, 23 hours and the days since.
    `currencies` (the merchant's) keeps the hourly and quarter-hour parts on their indexes."""
    from paybridge.models import Transaction

    d, h, q, tx = DailyRollup, HourlyRollup, QuarterRollup, Transaction
    parts = [
        sa.select(col(d.currency), (col(d.net) - col(d.refunded_net)).label("kept")).where(
            col(d.merchant_id) == merchant,
            col(d.status) == SUCCESS,
            col(d.day) >= P("held_d0"),
        ),
        sa.select(col(h.currency), (col(h.net) - col(h.refunded_net)).label("kept")).where(
            col(h.merchant_id) == merchant,
            col(h.currency).in_(currencies),
            col(h.status) == SUCCESS,
            _in(col(h.hour), "held_", ("h0", "h1")),
        ),
        sa.select(col(q.currency), (col(q.net) - col(q.refunded_net)).label("kept")).where(
            col(q.merchant_id) == merchant,
            col(q.currency).in_(currencies),
            col(q.status) == SUCCESS,
            _in(col(q.quarter), "held_", ("q0", "q1")),
        ),
        sa.select(
            col(tx.currency), (col(tx.net_amount) - col(tx.refunded_net)).label("kept")
        ).where(
            col(tx.merchant_id) == merchant,
            col(tx.status) == SUCCESS,
            _in(col(tx.created_at), "held_", ("r0", "r1")),
        ),
    ]
    both = sa.union_all(*parts).subquery()
    return sa.select(both.c.currency, sa.func.sum(both.c.kept)).group_by(both.c.currency)


def paid_out_part(merchant: sa.ColumnElement) -> sa.Select:
    """(currency, amount) of payouts that have not failed."""
    from paybridge.models import Settlement, SettlementStatus

    s = Settlement
    return (
        sa.select(col(s.currency), sa.func.sum(col(s.amount)))
        .where(col(s.merchant_id) == merchant, col(s.status) != SettlementStatus.FAILED.value)
        .group_by(col(s.currency))
    )


# --------------------------------------------------------------------------- one statement


COLUMNS = (
    ("currency", sa.String()),
    ("day", sa.Date()),
    ("moment", UTCDateTime()),
    ("provider_id", sa.Integer()),
    ("code", sa.String()),
    ("name", sa.String()),
    ("status", sa.String()),
    *((name, sa.BigInteger()) for name in SUMS),
)


def tagged(kind: str, source: sa.Select, **columns: int) -> sa.Select:
    """`source`'s columns as one kind of row of a UNION ALL that answers several questions in
    one round trip: (kind, *COLUMNS), NULL where `columns` (name -> position) maps nothing."""
    sub = source.subquery()
    values = [sa.literal(kind, sa.String()).label("kind")]
    for name, type_ in COLUMNS:
        at = columns.get(name)
        values.append(
            (sub.c[at] if isinstance(at, str) else list(sub.c)[at]).label(name)
            if at is not None
            else sa.cast(sa.null(), type_).label(name)
        )
    return sa.select(*values)

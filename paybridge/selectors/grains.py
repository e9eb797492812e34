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

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY as postgresql_array
from sqlalchemy.orm import Mapped
from sqlmodel import col

from paybridge.db import UTCDateTime
from paybridge.models import (
    DailyRollup,
    HourlyRollup,
    QuarterRollup,
    RollupTotal,
    Settlement,
    SettlementStatus,
    Transaction,
)
from paybridge.models.transaction import TransactionStatus
from paybridge.selectors.statements import SUMS, tagged

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
# One of the three grains (same columns, a different time column), and a column or expression
# of a statement (a model's column through sqlmodel.col is a Mapped for the type checker).
Grain = type[DailyRollup] | type[HourlyRollup] | type[QuarterRollup]
Column = sa.ColumnElement[Any] | Mapped[Any]


@dataclass(frozen=True)
class Pieces:
    """[start, end) tiled by whole UTC days [days), hours in two ranges and quarter hours in two
    ranges (any of them may be empty). A bound that is not on a quarter hour (no zone's midnight
    has been off one since Liberia's in 1972) leaves out its quarter hour's part in the range."""

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


def _sums(table: Grain) -> list[Mapped[Any]]:
    return [col(getattr(table, name)) for name in SUMS]


def _in(column: Column, prefix: str, *pairs: tuple[str, str]) -> sa.ColumnElement[bool]:
    return sa.or_(*(sa.and_(column >= P(prefix + a), column < P(prefix + b)) for a, b in pairs))


def cells_part(merchant: sa.ColumnElement, currency: sa.ColumnElement) -> sa.Select:
    """(period, provider_id, status, *SUMS) of one currency: sums per (provider, status) over the
    ranges of `Pieces.params("cur_")` (period 'cur') and `Pieces.params("prev_")` (period
    'prev', which ends where 'cur' starts), each grain read once for both."""
    d, h, q = DailyRollup, HourlyRollup, QuarterRollup

    def part(table: Grain, time: Column, pairs: tuple[tuple[str, str], ...]) -> sa.Select:
        period = sa.case((time >= P("cur_" + pairs[0][0]), "cur"), else_="prev")
        return sa.select(
            period.label("period"), col(table.provider_id), col(table.status), *_sums(table)
        ).where(
            col(table.merchant_id) == merchant,
            col(table.currency) == currency,
            sa.or_(_in(time, "cur_", *pairs), _in(time, "prev_", *pairs)),
        )

    both = sa.union_all(
        part(d, col(d.day), (("d0", "d1"),)),
        part(h, col(h.hour), (("h0", "h1"), ("h2", "h3"))),
        part(q, col(q.quarter), (("q0", "q1"), ("q2", "q3"))),
    ).subquery()
    keys = (both.c.period, both.c.provider_id, both.c.status)
    return sa.select(*keys, *(sa.func.sum(both.c[name]) for name in SUMS)).group_by(*keys)


@dataclass(frozen=True)
class SeriesPieces:
    """Successful payments per local day, read as whole UTC days [days) from the daily grain,
    each counted on the local day its noon falls on, then corrected: the `hours` (and, in
    hours a local midnight cuts, the `quarters`) that belong to another local day are moved
    there. Lagos (+01:00) moves one hour a day; no zone moves more than twelve."""

    days: tuple[date, date]
    hours: tuple[datetime, ...]
    quarters: tuple[datetime, ...]

    def params(self, prefix: str) -> dict[str, object]:
        return {
            prefix + "d0": self.days[0],
            prefix + "d1": self.days[1],
            prefix + "hours": list(self.hours),
            prefix + "quarters": list(self.quarters),
        }


@lru_cache(maxsize=512)
def series_pieces(start: datetime, end: datetime, tz: str) -> SeriesPieces:
    """For a period [start, end) of whole local days in `tz` (reloads of one period share it)."""
    zone = ZoneInfo(tz)

    def local_date(moment: datetime) -> date:
        return moment.astimezone(zone).date()

    first, last = floor_to(start, DAY), ceil_to(end, DAY)
    hours: list[datetime] = []
    quarters: list[datetime] = []
    day = first
    while day < last:
        home = local_date(day + DAY / 2)
        for i in range(24):
            hour = day + i * HOUR
            starts, ends = local_date(hour), local_date(hour + HOUR - timedelta(microseconds=1))
            if starts != ends:  # a local midnight inside the hour: move its quarter hours
                quarters += [
                    q for q in (hour + n * QUARTER for n in range(4)) if local_date(q) != home
                ]
            elif starts != home:
                hours.append(hour)
        day += DAY
    return SeriesPieces((first.date(), last.date()), tuple(hours), tuple(quarters))


def series_parts(
    prefix: str, merchant: sa.ColumnElement, currency: sa.ColumnElement, postgresql: bool
) -> list[sa.Select]:
    """Tagged rows of the per-local-day series of successful payments (kept volume in gross,
    count): on PostgreSQL one 'series' row per local day (the `tz` parameter), bucketed in SQL;
    elsewhere 'series_day' rows per UTC day and 'series_move' rows per moved hour or quarter
    hour, for `local_series` to bucket."""
    d, h, q = DailyRollup, HourlyRollup, QuarterRollup

    def rows(table: Grain, time: Column, where: sa.ColumnElement[bool]) -> sa.Select:
        kept = col(table.gross) - col(table.refunded)
        return sa.select(time.label("time"), kept.label("kept"), col(table.count)).where(
            col(table.merchant_id) == merchant,
            col(table.currency) == currency,
            col(table.status) == SUCCESS,
            where,
        )

    in_days = _in(col(d.day), prefix, ("d0", "d1"))
    if not postgresql:
        moved_hours = col(h.hour).in_(P(prefix + "hours", expanding=True))
        moved_quarters = col(q.quarter).in_(P(prefix + "quarters", expanding=True))
        moved_rows = sa.union_all(
            rows(h, col(h.hour), moved_hours), rows(q, col(q.quarter), moved_quarters)
        ).subquery()
        by_day = rows(d, col(d.day), in_days).subquery()
        return [
            tagged("series_day", _summed(by_day), day=0, gross=1, count=2),
            tagged("series_move", _summed(moved_rows), moment=0, gross=1, count=2),
        ]
    tz = P("tz", type_=sa.String)
    half_day: sa.ColumnClause[Any] = sa.literal_column("interval '12 hours'")
    moments = postgresql_array(UTCDateTime())
    signs = sa.func.unnest(sa.literal_column("ARRAY[1, -1]")).table_valued("sign").alias("signs")

    def local(moment: Column) -> sa.ColumnElement[Any]:
        return sa.cast(sa.func.timezone(tz, moment), sa.Date)

    def moved(table: Grain, moment: Column, name: str) -> sa.Select:
        """Each moved bucket twice: added to its own local day, taken from the local day its
        UTC day's noon falls on."""
        home = local(sa.func.date_trunc("day", moment, "UTC") + half_day)
        sign = signs.c.sign
        return (
            sa.select(
                sa.case((sign > 0, local(moment)), else_=home).label("time"),
                (sign * (col(table.gross) - col(table.refunded))).label("kept"),
                (sign * col(table.count)).label("count"),
            )
            .select_from(table)
            .join(signs, sa.true())
            .where(
                col(table.merchant_id) == merchant,
                col(table.currency) == currency,
                col(table.status) == SUCCESS,
                moment == sa.any_(P(prefix + name, type_=moments)),
            )
        )

    day_noon = sa.func.timezone("UTC", sa.cast(col(d.day), sa.DateTime) + half_day)
    parts = sa.union_all(
        rows(d, local(day_noon), in_days),
        moved(h, col(h.hour), "hours"),
        moved(q, col(q.quarter), "quarters"),
    ).subquery()
    return [tagged("series", _summed(parts), day=0, gross=1, count=2)]


def _summed(rows: sa.Subquery) -> sa.Select:
    return sa.select(rows.c.time, sa.func.sum(rows.c.kept), sa.func.sum(rows.c["count"])).group_by(
        rows.c.time
    )


def local_series(rows: Iterable[Any], tz: str) -> dict[date, tuple[int, int]]:
    """(kept volume, count) per local day from the series rows of `series_parts`."""
    zone = ZoneInfo(tz)
    daily: dict[date, list[int]] = defaultdict(lambda: [0, 0])

    def add(day: date, volume: int, count: int) -> None:
        daily[day][0] += volume
        daily[day][1] += count

    for row in rows:
        if row.kind == "series":
            add(row.day, int(row.gross), int(row.count))
        elif row.kind == "series_day":
            noon = datetime.combine(row.day, time(12), UTC)
            add(noon.astimezone(zone).date(), int(row.gross), int(row.count))
        elif row.kind == "series_move":
            noon = floor_to(row.moment, DAY) + DAY / 2
            add(row.moment.astimezone(zone).date(), int(row.gross), int(row.count))
            add(noon.astimezone(zone).date(), -int(row.gross), -int(row.count))
    return {day: (volume, count) for day, (volume, count) in daily.items()}


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
    """[cutoff, ∞) as whole UTC days from `first_day`, hours, quarter hours and the raw payments
    between the cutoff and the nearer quarter hour: added (`raw_sign` 1) when the cutoff is in
    the second half of its quarter hour, taken from that whole quarter hour (-1) otherwise, so
    at most 7.5 minutes of payments are read one by one."""

    raw: Range
    raw_sign: int
    quarters: Range
    hours: Range
    first_day: date

    def params(self) -> dict[str, object]:
        return {
            "held_r0": self.raw[0],
            "held_r1": self.raw[1],
            "held_sign": self.raw_sign,
            "held_q0": self.quarters[0],
            "held_q1": self.quarters[1],
            "held_h0": self.hours[0],
            "held_h1": self.hours[1],
            "held_d0": self.first_day,
        }


def held_pieces(cutoff: datetime) -> HeldPieces:
    before, after = floor_to(cutoff, QUARTER), ceil_to(cutoff, QUARTER)
    hour = ceil_to(cutoff, HOUR)
    day = ceil_to(hour, DAY)
    if cutoff - before < after - cutoff:
        return HeldPieces((before, cutoff), -1, (before, hour), (hour, day), day.date())
    return HeldPieces((cutoff, after), 1, (after, hour), (hour, day), day.date())


def held_part(merchant: sa.ColumnElement, currencies: sa.Select) -> sa.Select:
    """(currency, net less refunds) of successful payments created at or after the cutoff: at
    most 7.5 minutes of raw payments, 4 quarter hours, 23 hours and the days since.
    `currencies` (the merchant's) keeps the hourly and quarter-hour parts on their indexes."""
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
            col(tx.currency),
            (P("held_sign", type_=sa.Integer) * (col(tx.net_amount) - col(tx.refunded_net))).label(
                "kept"
            ),
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
    s = Settlement
    return (
        sa.select(col(s.currency), sa.func.sum(col(s.amount)))
        .where(col(s.merchant_id) == merchant, col(s.status) != SettlementStatus.FAILED.value)
        .group_by(col(s.currency))
    )

"""Dashboard numbers for a merchant, a period and a currency — answered from the hourly rollups.

`selectors.reference` computes the same `DashboardMetrics` by scanning raw transactions; a
property-based test keeps the two identical. Both feed `build_metrics`, so the definitions
below live in one place:

- total transactions: every payment created in the period, whatever its status;
- volume: gross of payments that are `success` now, less what partial refunds gave back
  (fully refunded and failed ones excluded), so refunding a payment in parts ends where
  refunding it at once does;
- success rate: (success + refunded) / (success + refunded + failed), pending excluded;
- average transaction: volume / number of `success` payments (partially refunded ones
  included), rounded half up.
Rates and shares are integer basis points (9750 = 97.50 %) so nothing becomes a float.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache

import sqlalchemy as sa
from sqlmodel import Session, col, select

from paybridge.models import Event, Provider
from paybridge.models.event import EventType
from paybridge.models.keys import key
from paybridge.models.transaction import TransactionStatus
from paybridge.selectors.balances import (
    CurrencyBalance,
    PayoutTerms,
    account_terms,
    balance_params,
    balance_parts,
    balances_from,
    hold_days_for,
)
from paybridge.selectors.grains import (
    cells_part,
    local_series,
    pieces,
    series_parts,
    series_pieces,
    used_currencies,
)
from paybridge.selectors.periods import Period
from paybridge.selectors.ratios import change_bp, points_change_bp, ratio_bp
from paybridge.selectors.statements import SUMS, fetch, tagged

STATUSES = tuple(s.value for s in TransactionStatus)
HEALTHY_BP, DEGRADED_BP = 9800, 9500


@dataclass(frozen=True)
class StatusTotals:
    """Count and sums of one (provider, status) cell."""

    provider_id: int
    status: str
    count: int
    gross: int
    fees: int
    net: int
    refunded: int = 0  # given back by refunds (for `success`: partial refunds)
    refunded_net: int = 0  # the refunds' share of net


@dataclass(frozen=True)
class ProviderStats:
    code: str
    name: str
    count: int
    volume: int
    success_rate_bp: int | None
    health: str  # green | amber | red | none


@dataclass(frozen=True)
class StatusShare:
    status: str
    count: int
    share_bp: int


@dataclass(frozen=True)
class DailyPoint:
    day: date
    volume: int
    count: int


@dataclass(frozen=True)
class Headline:
    total_transactions: int
    total_volume: int
    success_rate_bp: int | None
    average_transaction: int


@dataclass(frozen=True)
class HeadlineChange:
    """The current period against the previous one: relative changes in basis points, and the
    success rate's change in points (basis points of a percentage point)."""

    total_transactions_bp: int | None
    total_volume_bp: int | None
    average_transaction_bp: int | None
    success_rate_points_bp: int | None


def headline_change(current: Headline, previous: Headline) -> HeadlineChange:
    return HeadlineChange(
        total_transactions_bp=change_bp(current.total_transactions, previous.total_transactions),
        total_volume_bp=change_bp(current.total_volume, previous.total_volume),
        average_transaction_bp=change_bp(current.average_transaction, previous.average_transaction),
        success_rate_points_bp=points_change_bp(current.success_rate_bp, previous.success_rate_bp),
    )


@dataclass(frozen=True)
class DashboardMetrics:
    currency: str
    current: Headline
    previous: Headline
    daily: list[DailyPoint] = field(default_factory=list)
    providers: list[ProviderStats] = field(default_factory=list)
    statuses: list[StatusShare] = field(default_factory=list)

    @property
    def change(self) -> HeadlineChange:
        return headline_change(self.current, self.previous)


def health_for(success_rate_bp: int | None) -> str:
    if success_rate_bp is None:
        return "none"
    if success_rate_bp >= HEALTHY_BP:
        return "green"
    return "amber" if success_rate_bp >= DEGRADED_BP else "red"


def headline(cells: Iterable[StatusTotals]) -> Headline:
    by_status: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for cell in cells:
        by_status[cell.status][0] += cell.count
        by_status[cell.status][1] += cell.gross - cell.refunded
    total = sum(count for count, _ in by_status.values())
    success_count, volume = by_status[TransactionStatus.SUCCESS]
    succeeded = success_count + by_status[TransactionStatus.REFUNDED][0]
    finished = succeeded + by_status[TransactionStatus.FAILED][0]
    average = 0 if success_count == 0 else (2 * volume + success_count) // (2 * success_count)
    return Headline(
        total_transactions=total,
        total_volume=volume,
        success_rate_bp=ratio_bp(succeeded, finished),
        average_transaction=average,
    )


_NOTHING = (0, 0)


def daily_points(
    period: Period,
    daily_volume: Mapping[date, tuple[int, int]],
    *,
    earlier: Sequence[DailyPoint] = (),
    changed: Iterable[date] = (),
) -> list[DailyPoint]:
    """A point for each day of `period` from a per-day (volume, count) map of successful
    payments. Given the points of an earlier call over the same days, only the days `changed`
    since are made anew: a live dashboard adds its payments a few at a time, and making every
    day's point afresh cost ~19 µs a payment for a 30-day period."""
    days = period.days()
    if not earlier or len(earlier) != len(days) or earlier[0].day != days[0]:
        return [DailyPoint(day, *daily_volume.get(day, _NOTHING)) for day in days]
    points = list(earlier)
    for day in changed:
        index = (day - days[0]).days
        if 0 <= index < len(points):
            points[index] = DailyPoint(day, *daily_volume.get(day, _NOTHING))
    return points


def build_metrics(
    *,
    currency: str,
    period: Period,
    cells: list[StatusTotals],
    previous_cells: list[StatusTotals],
    daily: list[DailyPoint],
    providers: Mapping[int, Provider | ProviderName],
) -> DashboardMetrics:
    """Everything the dashboard shows, derived from per-(provider, status) cells and the
    period's daily points (`daily_points`)."""
    per_provider: dict[int, list[StatusTotals]] = defaultdict(list)
    for cell in cells:
        per_provider[cell.provider_id].append(cell)
    provider_stats = []
    for provider_id, provider_cells in per_provider.items():
        stats = headline(provider_cells)
        provider = providers[provider_id]
        provider_stats.append(
            ProviderStats(
                code=provider.code,
                name=provider.display_name,
                count=stats.total_transactions,
                volume=stats.total_volume,
                success_rate_bp=stats.success_rate_bp,
                health=health_for(stats.success_rate_bp),
            )
        )
    provider_stats.sort(key=lambda p: (-p.volume, -p.count, p.code))

    counts = {status: 0 for status in STATUSES}
    for cell in cells:
        counts[cell.status] += cell.count
    total = sum(counts.values())
    statuses = [
        StatusShare(status=s, count=counts[s], share_bp=ratio_bp(counts[s], total) or 0)
        for s in STATUSES
    ]
    return DashboardMetrics(
        currency=currency,
        current=headline(cells),
        previous=headline(previous_cells),
        daily=daily,
        providers=provider_stats,
        statuses=statuses,
    )


def providers_by_id(session: Session) -> dict[int, Provider]:
    return {key(p): p for p in session.exec(select(Provider)).all()}


def provider_choices(*, session: Session) -> list[tuple[str, str]]:
    """Every provider as (code, display name), by display name: the filter's options."""
    rows = session.execute(
        sa.select(col(Provider.code), col(Provider.display_name)).order_by(
            col(Provider.display_name)
        )
    )
    return [(code, name) for code, name in rows]


@dataclass(frozen=True)
class ProviderName:
    code: str
    display_name: str


COUNTED_WINDOW = 50  # the newest payment events a counting read names (`NumbersBasis.counted`)


@dataclass(frozen=True)
class NumbersBasis:
    """What a read's numbers were derived from, kept so that payments heard after the read can
    be added to them by the rollups' own rules (`selectors.live_numbers`) instead of reading
    again. `counted` names the newest COUNTED_WINDOW `transaction.created` events the same
    statement saw (one statement: one snapshot of the rollups and the events), so a payment's
    event tells whether the numbers hold it already."""

    period: Period
    asked: str | None  # the currency asked for (None: the most used one)
    any_currency: bool  # `asked` is shown even where the merchant has no payments in it
    cells: tuple[StatusTotals, ...]  # the period's, in the shown currency
    previous: tuple[StatusTotals, ...]
    daily: dict[date, tuple[int, int]]
    used: dict[str, int]  # currency -> payments, all time
    providers: dict[int, ProviderName]
    hold: timedelta | None  # the account's hold period (None: balances not read)
    counted: frozenset[int]
    floor: int | None  # a payment event below this id may be in the numbers or not (None: every
    # one the read saw is in `counted`)


@dataclass(frozen=True)
class DashboardNumbers:
    """Every number and series a dashboard shows, from one read (see `dashboard_numbers`)."""

    currencies: list[str]  # the merchant's, most used first
    currency: str  # the one `metrics` is in
    metrics: DashboardMetrics
    balances: list[CurrencyBalance] | None  # None when not asked for
    basis: NumbersBasis | None = None  # with `counting`


def dashboard_numbers(
    *,
    session: Session,
    merchant_id: int,
    period: Period,
    currency: str | None = None,
    any_currency: bool = True,
    with_balances: bool = True,
    terms: PayoutTerms | None = None,
    now: datetime | None = None,
    counting: bool = False,
) -> DashboardNumbers:
    """The dashboard's numbers, series, currencies and (with_balances) balances in one statement.
    The dashboard's reload, REST `/analytics` and GraphQL `analytics` all read through here.

    `currency` None shows the most used currency; so does one the merchant has never taken
    payments in unless `any_currency` (the API answers for the currency it was asked about).
    Day buckets follow the period's timezone exactly, half-hour zones and DST changes included.
    `terms`: the account's, when the caller has read them already (the balances need them).
    `counting`: keep the `basis` a live dashboard adds the payments it hears to.
    """
    cells = pieces(period.start, period.end)
    previous = period.previous
    params: dict[str, object] = {
        "merchant_id": merchant_id,
        "currency": currency,
        "any_currency": any_currency,
        "tz": period.tz,
    }
    params |= cells.params("cur_") | pieces(previous.start, previous.end).params("prev_")
    params |= series_pieces(period.start, period.end, period.tz).params("series_")
    if with_balances:
        terms = terms or account_terms(session=session, merchant_id=merchant_id)
        if terms is None:
            with_balances = False
        else:
            params |= balance_params(terms, now)
    postgresql = session.get_bind().dialect.name == "postgresql"
    rows = fetch(session, _numbers_statement(postgresql, with_balances, counting), params)

    used: list[tuple[int, str]] = []
    counted: set[int] = set()
    chosen = currency or "USD"
    cur: list[StatusTotals] = []
    prev: list[StatusTotals] = []
    providers: dict[int, ProviderName] = {}
    for row in rows:
        kind = row.kind
        if kind in ("cur", "prev") and row.count:
            cell = StatusTotals(
                row.provider_id,
                row.status,
                *(int(getattr(row, name)) for name in SUMS),
            )
            (cur if kind == "cur" else prev).append(cell)
            providers[row.provider_id] = ProviderName(row.code, row.name)
        elif kind == "used":
            used.append((-int(row.count), row.currency))
        elif kind == "chosen":
            chosen = row.currency
        elif kind == "counted":
            counted.add(int(row.count))
    daily = local_series(rows, period.tz)
    metrics = build_metrics(
        currency=chosen,
        period=period,
        cells=cur,
        previous_cells=prev,
        daily=daily_points(period, daily),
        providers=providers,
    )
    basis = None
    if counting:
        basis = NumbersBasis(
            period=period,
            asked=currency,
            any_currency=any_currency,
            cells=tuple(cur),
            previous=tuple(prev),
            daily=daily,
            used={c: -count for count, c in used},
            providers=providers,
            hold=timedelta(days=hold_days_for(terms)) if with_balances and terms else None,
            counted=frozenset(counted),
            floor=min(counted) if len(counted) >= COUNTED_WINDOW else None,
        )
    return DashboardNumbers(
        currencies=[c for _, c in sorted(used)],
        currency=chosen,
        metrics=metrics,
        balances=balances_from(rows) if with_balances else None,
        basis=basis,
    )


def dashboard_metrics(
    *, session: Session, merchant_id: int, currency: str, period: Period
) -> DashboardMetrics:
    """The dashboard's numbers for one currency (see `dashboard_numbers`)."""
    return dashboard_numbers(
        session=session,
        merchant_id=merchant_id,
        period=period,
        currency=currency,
        with_balances=False,
    ).metrics


def merchant_currencies(*, session: Session, merchant_id: int) -> list[str]:
    """Currencies the merchant has taken payments in, most used first."""
    used = used_currencies(sa.bindparam("merchant_id", type_=sa.Integer)).subquery()
    rows = session.execute(
        sa.select(used.c.currency).order_by(used.c.payments.desc(), used.c.currency),
        {"merchant_id": merchant_id},
    ).all()
    return [currency for (currency,) in rows]


@cache
def _numbers_statement(postgresql: bool, with_balances: bool, counting: bool) -> sa.CompoundSelect:
    merchant = sa.bindparam("merchant_id", type_=sa.Integer)
    wanted = sa.bindparam("currency", type_=sa.String)
    used = used_currencies(merchant).cte("used")
    most_used = (
        sa.select(used.c.currency)
        .order_by(used.c.payments.desc(), used.c.currency)
        .limit(1)
        .scalar_subquery()
    )
    honoured = sa.and_(
        wanted.is_not(None),
        sa.or_(
            sa.bindparam("any_currency", type_=sa.Boolean),
            wanted.in_(sa.select(used.c.currency)),
        ),
    )
    chosen = sa.select(
        sa.case((honoured, wanted), else_=sa.func.coalesce(most_used, "USD")).label("currency")
    ).cte("chosen")
    currency = sa.select(chosen.c.currency).scalar_subquery()

    cells = cells_part(merchant, currency).subquery()
    named = sa.select(
        cells.c.period,
        cells.c.provider_id,
        col(Provider.code),
        col(Provider.display_name),
        *list(cells.c)[2:],
    ).join(Provider, col(Provider.id) == cells.c.provider_id)
    cell_columns = dict(provider_id=1, code=2, name=3, status=4)
    cell_columns |= {name: 5 + i for i, name in enumerate(SUMS)}
    parts = [
        tagged("used", sa.select(used.c.currency, used.c.payments), currency=0, count=1),
        tagged("chosen", sa.select(chosen.c.currency), currency=0),
        tagged(0, named, **cell_columns),
        *series_parts("series_", merchant, currency, postgresql),
    ]
    if with_balances:
        parts += balance_parts(merchant, sa.select(used.c.currency))
    if counting:
        newest = (
            sa.select(col(Event.id))
            .where(
                col(Event.merchant_id) == merchant,
                col(Event.type) == EventType.TRANSACTION_CREATED.value,
            )
            .order_by(col(Event.id).desc())
            .limit(COUNTED_WINDOW)
        )
        parts.append(tagged("counted", newest, count=0))
    return sa.union_all(*parts)

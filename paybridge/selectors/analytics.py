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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from paybridge.models import HourlyRollup, Provider
from paybridge.models.transaction import TransactionStatus
from paybridge.selectors.periods import Period

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
class DashboardMetrics:
    currency: str
    current: Headline
    previous: Headline
    daily: list[DailyPoint] = field(default_factory=list)
    providers: list[ProviderStats] = field(default_factory=list)
    statuses: list[StatusShare] = field(default_factory=list)


def ratio_bp(part: int, whole: int) -> int | None:
    """part/whole in basis points, rounded half up; None when there is nothing to divide."""
    return None if whole == 0 else (part * 20000 + whole) // (2 * whole)


def change_bp(current: int, previous: int) -> int | None:
    """Relative change in basis points; None when the previous period had nothing."""
    return (
        None
        if previous == 0
        else ratio_bp(current - previous, previous)
        if current >= previous
        else -ratio_bp(previous - current, previous)
    )


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


def build_metrics(
    *,
    currency: str,
    period: Period,
    cells: list[StatusTotals],
    previous_cells: list[StatusTotals],
    daily_volume: dict[date, tuple[int, int]],
    providers: dict[int, Provider],
) -> DashboardMetrics:
    """Everything the dashboard shows, derived from per-(provider, status) cells and a per-day
    (volume, count) map of successful payments."""
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
    daily = [
        DailyPoint(
            day=d, volume=daily_volume.get(d, (0, 0))[0], count=daily_volume.get(d, (0, 0))[1]
        )
        for d in period.days()
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
    return {p.id: p for p in session.exec(select(Provider)).all()}


def dashboard_metrics(
    *, session: Session, merchant_id: int, currency: str, period: Period
) -> DashboardMetrics:
    """The dashboard's numbers from the rollups: three indexed range scans.

    Day buckets follow the merchant's timezone at hour granularity: a zone whose offset is not
    a whole number of hours (e.g. Asia/Kolkata) gets each hour in the day the hour starts in.
    """
    tz = ZoneInfo(period.tz)
    hourly = session.exec(
        select(
            HourlyRollup.hour,
            sa.func.sum(HourlyRollup.gross - HourlyRollup.refunded),
            sa.func.sum(HourlyRollup.count),
        )
        .where(*_bucket_filter(merchant_id, currency, period.start, period.end))
        .where(HourlyRollup.status == TransactionStatus.SUCCESS.value)
        .group_by(HourlyRollup.hour)
    ).all()
    daily: dict[date, tuple[int, int]] = {}
    for hour, gross, count in hourly:
        day = hour.astimezone(tz).date()
        volume, n = daily.get(day, (0, 0))
        daily[day] = (volume + int(gross), n + int(count))
    previous = period.previous
    return build_metrics(
        currency=currency,
        period=period,
        cells=_cells(session, merchant_id, currency, period.start, period.end),
        previous_cells=_cells(session, merchant_id, currency, previous.start, previous.end),
        daily_volume=daily,
        providers=providers_by_id(session),
    )


def merchant_currencies(*, session: Session, merchant_id: int) -> list[str]:
    """Currencies the merchant has taken payments in, most used first."""
    rows = session.exec(
        select(HourlyRollup.currency, sa.func.sum(HourlyRollup.count))
        .where(HourlyRollup.merchant_id == merchant_id)
        .group_by(HourlyRollup.currency)
        .order_by(sa.func.sum(HourlyRollup.count).desc(), HourlyRollup.currency)
    ).all()
    return [currency for currency, count in rows if count]


def _bucket_filter(merchant_id: int, currency: str, start: datetime, end: datetime) -> list:
    return [
        HourlyRollup.merchant_id == merchant_id,
        HourlyRollup.currency == currency,
        HourlyRollup.hour >= start,
        HourlyRollup.hour < end,
    ]


def _cells(
    session: Session, merchant_id: int, currency: str, start: datetime, end: datetime
) -> list[StatusTotals]:
    rows = session.exec(
        select(
            HourlyRollup.provider_id,
            HourlyRollup.status,
            sa.func.sum(HourlyRollup.count),
            sa.func.sum(HourlyRollup.gross),
            sa.func.sum(HourlyRollup.fees),
            sa.func.sum(HourlyRollup.net),
            sa.func.sum(HourlyRollup.refunded),
            sa.func.sum(HourlyRollup.refunded_net),
        )
        .where(*_bucket_filter(merchant_id, currency, start, end))
        .group_by(HourlyRollup.provider_id, HourlyRollup.status)
    ).all()
    return [
        StatusTotals(pid, status, int(c), int(g), int(f), int(n), int(r), int(rn))
        for pid, status, c, g, f, n, r, rn in rows
        if c
    ]

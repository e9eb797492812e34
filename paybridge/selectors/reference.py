"""The plain reference implementation of the dashboard numbers: it scans raw transactions.

Too slow for the dashboard (see bench/dashboard.py), kept as the oracle the rollups are tested
against.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from paybridge.models import Transaction
from paybridge.models.transaction import TransactionStatus
from paybridge.selectors.analytics import (
    DashboardMetrics,
    StatusTotals,
    build_metrics,
    providers_by_id,
)
from paybridge.selectors.periods import Period


def dashboard_metrics_raw(
    *, session: Session, merchant_id: int, currency: str, period: Period
) -> DashboardMetrics:
    tz = ZoneInfo(period.tz)
    daily: dict[date, tuple[int, int]] = {}
    rows = session.exec(
        select(Transaction.created_at, Transaction.amount - Transaction.refunded_amount).where(
            *_filter(merchant_id, currency, period.start, period.end),
            Transaction.status == TransactionStatus.SUCCESS.value,
        )
    )
    for created_at, amount in rows:
        day = created_at.astimezone(tz).date()
        volume, count = daily.get(day, (0, 0))
        daily[day] = (volume + amount, count + 1)
    previous = period.previous
    return build_metrics(
        currency=currency,
        period=period,
        cells=_cells(session, merchant_id, currency, period),
        previous_cells=_cells(session, merchant_id, currency, previous),
        daily_volume=daily,
        providers=providers_by_id(session),
    )


def _filter(merchant_id: int, currency: str, start, end) -> list:  # type: ignore[no-untyped-def]
    return [
        Transaction.merchant_id == merchant_id,
        Transaction.currency == currency,
        Transaction.created_at >= start,
        Transaction.created_at < end,
    ]


def _cells(session: Session, merchant_id: int, currency: str, period: Period) -> list[StatusTotals]:
    rows = session.exec(
        select(
            Transaction.provider_id,
            Transaction.status,
            sa.func.count(),
            sa.func.sum(Transaction.amount),
            sa.func.sum(Transaction.fee),
            sa.func.sum(Transaction.net_amount),
            sa.func.sum(Transaction.refunded_amount),
            sa.func.sum(Transaction.refunded_net),
        )
        .where(*_filter(merchant_id, currency, period.start, period.end))
        .group_by(Transaction.provider_id, Transaction.status)
    ).all()
    return [
        StatusTotals(pid, status, int(c), int(g), int(f), int(n), int(r), int(rn))
        for pid, status, c, g, f, n, r, rn in rows
    ]

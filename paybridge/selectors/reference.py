"""The plain reference implementation of the dashboard numbers: it scans raw transactions.

Too slow for the dashboard (see bench/dashboard.py), kept as the oracle the rollups are tested
against.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from paybridge.models import Transaction
from paybridge.models.transaction import TransactionStatus
from paybridge.selectors.analytics import (
    DashboardMetrics,
    StatusTotals,
    build_metrics,
    daily_points,
    providers_by_id,
)
from paybridge.selectors.periods import Period


def dashboard_metrics_raw(
    *, session: Session, merchant_id: int, currency: str, period: Period
) -> DashboardMetrics:
    tz = ZoneInfo(period.tz)
    daily: dict[date, tuple[int, int]] = {}
    rows = session.exec(
        select(
            col(Transaction.created_at), col(Transaction.amount) - col(Transaction.refunded_amount)
        ).where(
            *_filter(merchant_id, currency, period.start, period.end),
            col(Transaction.status) == TransactionStatus.SUCCESS.value,
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
        daily=daily_points(period, daily),
        providers=providers_by_id(session),
    )


def _filter(
    merchant_id: int, currency: str, start: datetime, end: datetime
) -> list[sa.ColumnElement[bool]]:
    return [
        col(Transaction.merchant_id) == merchant_id,
        col(Transaction.currency) == currency,
        col(Transaction.created_at) >= start,
        col(Transaction.created_at) < end,
    ]


def _cells(session: Session, merchant_id: int, currency: str, period: Period) -> list[StatusTotals]:
    # Eight columns: more than sqlmodel's typed select() takes, so SQLAlchemy's select, run with
    # execute (which is what exec does for a row select).
    rows = session.execute(
        sa.select(
            col(Transaction.provider_id),
            col(Transaction.status),
            sa.func.count(),
            sa.func.sum(col(Transaction.amount)),
            sa.func.sum(col(Transaction.fee)),
            sa.func.sum(col(Transaction.net_amount)),
            sa.func.sum(col(Transaction.refunded_amount)),
            sa.func.sum(col(Transaction.refunded_net)),
        )
        .where(*_filter(merchant_id, currency, period.start, period.end))
        .group_by(col(Transaction.provider_id), col(Transaction.status))
    ).all()
    return [
        StatusTotals(pid, status, int(c), int(g), int(f), int(n), int(r), int(rn))
        for pid, status, c, g, f, n, r, rn in rows
    ]

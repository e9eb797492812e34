"""Balances: what a merchant may withdraw now, and what is still held."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from paybridge.db import utcnow
from paybridge.models import HourlyRollup, Settlement, SettlementStatus, Transaction, User
from paybridge.models.transaction import TransactionStatus
from paybridge.services.rollups import floor_hour
from paybridge.settings import get_settings


@dataclass(frozen=True)
class CurrencyBalance:
    currency: str
    # Net of successful payments (less the net share of their partial refunds) past the hold
    # period, minus payouts that have not failed; it can go below zero after refunds.
    available: int
    pending: int  # the same net of successful payments still inside the hold period


def hold_days_for(user: User) -> int:
    return get_settings().hold_days if user.hold_days is None else user.hold_days


def balances(
    *, session: Session, merchant_id: int, now: datetime | None = None
) -> list[CurrencyBalance]:
    """Per-currency balances, from the rollups plus at most one hour of raw payments."""
    user = session.get(User, merchant_id)
    if user is None:
        return []
    cutoff = (now or utcnow()) - timedelta(days=hold_days_for(user))
    cutoff_hour = floor_hour(cutoff)
    success = TransactionStatus.SUCCESS.value

    released: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    kept = HourlyRollup.net - HourlyRollup.refunded_net
    rollup_rows = session.exec(
        select(
            HourlyRollup.currency,
            sa.func.sum(sa.case((HourlyRollup.hour < cutoff_hour, kept), else_=0)),
            sa.func.sum(kept),
        )
        .where(HourlyRollup.merchant_id == merchant_id, HourlyRollup.status == success)
        .group_by(HourlyRollup.currency)
    ).all()
    for currency, released_net, total_net in rollup_rows:
        released[currency] += int(released_net or 0)
        total[currency] += int(total_net or 0)
    # The hour the cutoff falls in: count its payments one by one.
    edge_rows = session.exec(
        select(Transaction.currency, sa.func.sum(Transaction.net_amount - Transaction.refunded_net))
        .where(
            Transaction.merchant_id == merchant_id,
            Transaction.status == success,
            Transaction.created_at >= cutoff_hour,
            Transaction.created_at < cutoff,
        )
        .group_by(Transaction.currency)
    ).all()
    for currency, net in edge_rows:
        released[currency] += int(net or 0)
    paid_out = _paid_out(session, merchant_id)

    currencies = sorted(set(total) | set(paid_out))
    return [
        CurrencyBalance(
            currency=c,
            available=released[c] - paid_out.get(c, 0),
            pending=total[c] - released[c],
        )
        for c in currencies
    ]


def available_balance(
    *, session: Session, merchant_id: int, currency: str, now: datetime | None = None
) -> int:
    for balance in balances(session=session, merchant_id=merchant_id, now=now):
        if balance.currency == currency:
            return balance.available
    return 0


def _paid_out(session: Session, merchant_id: int) -> dict[str, int]:
    rows = session.exec(
        select(Settlement.currency, sa.func.sum(Settlement.amount))
        .where(
            Settlement.merchant_id == merchant_id,
            Settlement.status != SettlementStatus.FAILED.value,
        )
        .group_by(Settlement.currency)
    ).all()
    return {currency: int(amount or 0) for currency, amount in rows}

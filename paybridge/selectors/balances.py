"""Balances: what a merchant may withdraw now, and what is still held."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Session, col

from paybridge.db import utcnow
from paybridge.models import User
from paybridge.selectors.grains import (
    held_part,
    held_pieces,
    kept_net_part,
    paid_out_part,
    used_currencies,
)
from paybridge.selectors.statements import fetch, tagged
from paybridge.settings import get_settings


@dataclass(frozen=True)
class CurrencyBalance:
    currency: str
    # Net of successful payments (less the net share of their partial refunds) past the hold
    # period, minus payouts that have not failed; it can go below zero after refunds.
    available: int
    pending: int  # the same net of successful payments still inside the hold period


class PayoutTerms(Protocol):
    """What balances and payout dates depend on: a `User`, or its `AccountTerms`."""

    @property
    def id(self) -> int | None: ...
    @property
    def timezone(self) -> str: ...
    @property
    def hold_days(self) -> int | None: ...
    @property
    def payout_schedule(self) -> str: ...
    @property
    def payout_weekday(self) -> int: ...
    @property
    def payout_day_of_month(self) -> int: ...


@dataclass(frozen=True)
class AccountTerms:
    """The account's payout terms and bank as one row, not a `User`: loading the ORM object
    (twice, since nothing kept the first alive) was a fifth of a live dashboard's read."""

    id: int
    timezone: str
    hold_days: int | None
    payout_schedule: str
    payout_weekday: int
    payout_day_of_month: int
    bank_name: str
    bank_account_masked: str


_TERMS = sa.select(*(col(getattr(User, name)) for name in AccountTerms.__dataclass_fields__)).where(
    col(User.id) == sa.bindparam("merchant_id")
)


def account_terms(*, session: Session, merchant_id: int) -> AccountTerms | None:
    """None when the account is gone."""
    row = session.connection().execute(_TERMS, {"merchant_id": merchant_id}).first()
    return None if row is None else AccountTerms(*row)


def hold_days_for(terms: PayoutTerms) -> int:
    return get_settings().hold_days if terms.hold_days is None else terms.hold_days


def balances(
    *, session: Session, merchant_id: int, now: datetime | None = None
) -> list[CurrencyBalance]:
    """Per-currency balances in one statement: all-time totals, less what the hold period's days,
    hours and quarter hours (and at most a quarter hour of raw payments) still hold, less
    payouts. It reads O(days since the hold cutoff) buckets, not the merchant's history."""
    terms = account_terms(session=session, merchant_id=merchant_id)
    if terms is None:
        return []
    rows = fetch(session, _statement(), balance_params(terms, now))
    return balances_from(rows)


def balance_parts(merchant: sa.ColumnElement, currencies: sa.Select) -> list[sa.Select]:
    """The tagged rows `balances_from` needs, for a UNION ALL (see `grains.tagged`)."""
    return [
        tagged("kept", kept_net_part(merchant), currency=0, net=1),
        tagged("held", held_part(merchant, currencies), currency=0, net=1),
        tagged("paid", paid_out_part(merchant), currency=0, net=1),
    ]


def balance_params(terms: PayoutTerms, now: datetime | None) -> dict[str, object]:
    cutoff = (now or utcnow()) - timedelta(days=hold_days_for(terms))
    return {"merchant_id": terms.id} | held_pieces(cutoff).params()


def balances_from(rows: Iterable[Any]) -> list[CurrencyBalance]:
    """Balances from the rows of `balance_parts` (other kinds of rows are ignored)."""
    kept: dict[str, int] = defaultdict(int)
    held: dict[str, int] = defaultdict(int)
    paid_out: dict[str, int] = defaultdict(int)
    into = {"kept": kept, "held": held, "paid": paid_out}
    for row in rows:
        if row.kind in into:
            into[row.kind][row.currency] += int(row.net or 0)
    return [
        CurrencyBalance(currency=c, available=kept[c] - held[c] - paid_out[c], pending=held[c])
        for c in sorted(set(kept) | set(paid_out))
    ]


@cache
def _statement() -> sa.CompoundSelect:
    merchant = sa.bindparam("merchant_id", type_=sa.Integer)
    currencies = sa.select(used_currencies(merchant).subquery().c.currency)
    return sa.union_all(*balance_parts(merchant, currencies))


def available_balance(
    *, session: Session, merchant_id: int, currency: str, now: datetime | None = None
) -> int:
    for balance in balances(session=session, merchant_id=merchant_id, now=now):
        if balance.currency == currency:
            return balance.available
    return 0

"""The money identities, recomputed from raw rows: what every concurrency test checks at its end.

- rollups = raw: every hourly bucket equals the sums of the payments now in it;
- refunds: per payment the refund rows add up to its refunded amount and net, never above it;
- balances: per merchant and currency, available = net (less refunded net) of successful
  payments older than the hold - payouts not failed, it equals what `selectors.balances`
  answers, and it is never below zero;
- events: each payment has exactly one `transaction.created` event and each payout one
  `settlement.created`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

from sqlmodel import Session, select

from paybridge.db import utcnow
from paybridge.models import Event, HourlyRollup, Refund, Settlement, Transaction, User
from paybridge.selectors.balances import balances, hold_days_for
from paybridge.services.rollups import floor_hour

SUMS = ("count", "gross", "fees", "net", "refunded", "refunded_net")


def raw_buckets(session: Session) -> dict[tuple, tuple[int, ...]]:
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(SUMS))
    for tx in session.exec(select(Transaction)):
        key = (tx.merchant_id, tx.currency, floor_hour(tx.created_at), tx.provider_id, tx.status)
        for i, value in enumerate(
            (1, tx.amount, tx.fee, tx.net_amount, tx.refunded_amount, tx.refunded_net)
        ):
            totals[key][i] += value
    return {key: tuple(values) for key, values in totals.items()}


def rollup_buckets(session: Session) -> dict[tuple, tuple[int, ...]]:
    found = {}
    for r in session.exec(select(HourlyRollup)):
        values = tuple(getattr(r, name) for name in SUMS)
        if any(values):
            found[(r.merchant_id, r.currency, r.hour, r.provider_id, r.status)] = values
    return found


def raw_available(session: Session, user: User, now: datetime) -> dict[str, int]:
    cutoff = now - timedelta(days=hold_days_for(user))
    available: dict[str, int] = defaultdict(int)
    for tx in session.exec(
        select(Transaction).where(
            Transaction.merchant_id == user.id,
            Transaction.status == "success",
            Transaction.created_at < cutoff,
        )
    ):
        available[tx.currency] += tx.net_amount - tx.refunded_net
    for payout in session.exec(
        select(Settlement).where(Settlement.merchant_id == user.id, Settlement.status != "failed")
    ):
        available[payout.currency] -= payout.amount
    return dict(available)


def money_problems(session: Session, *, now: datetime | None = None) -> list[str]:
    """Every identity that does not hold, described; empty when the books are right."""
    now = now or utcnow()
    problems: list[str] = []
    raw, rolled = raw_buckets(session), rollup_buckets(session)
    for key in sorted(set(raw) | set(rolled), key=str):
        if raw.get(key) != rolled.get(key):
            problems.append(f"bucket {key}: raw {raw.get(key)} != rollup {rolled.get(key)}")

    refunds: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for refund in session.exec(select(Refund)):
        refunds[refund.transaction_id][0] += refund.amount
        refunds[refund.transaction_id][1] += refund.net
    for tx in session.exec(select(Transaction)):
        if refunds.get(tx.id, [0, 0]) != [tx.refunded_amount, tx.refunded_net]:
            problems.append(f"payment {tx.reference}: refunds {refunds.get(tx.id)} != totals")
        if tx.refunded_amount > tx.amount:
            problems.append(f"payment {tx.reference}: refunded more than its amount")

    for user in session.exec(select(User)):
        expected = raw_available(session, user, now)
        answered = {
            b.currency: b.available for b in balances(session=session, merchant_id=user.id, now=now)
        }
        for currency in set(expected) | set(answered):
            want, got = expected.get(currency, 0), answered.get(currency, 0)
            if want != got:
                problems.append(f"merchant {user.id} {currency}: available {got} != raw {want}")
            if want < 0:
                problems.append(f"merchant {user.id} {currency}: available {want} below zero")

    for model, event_type in (
        (Transaction, "transaction.created"),
        (Settlement, "settlement.created"),
    ):
        events = Counter(
            (e.merchant_id, e.payload.get("reference"))
            for e in session.exec(select(Event).where(Event.type == event_type))
        )
        for key in session.exec(select(model.merchant_id, model.reference)):
            if events[tuple(key)] != 1:
                problems.append(f"{model.__name__} {tuple(key)}: {events[tuple(key)]} {event_type}")
    return problems

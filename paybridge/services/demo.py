"""Demo history: months of realistic payments written in bulk, and the scheduled payouts a
merchant would have had over them (no outbox events: history is not news, and webhooks must
not fire for it). Rollups are updated by the same code as live writes."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from paybridge.db import utcnow, write_session
from paybridge.models import (
    PayoutSchedule,
    Provider,
    Settlement,
    SettlementStatus,
    Transaction,
    TransactionStatus,
    User,
)
from paybridge.models.keys import key
from paybridge.selectors.balances import CurrencyBalance, balances, hold_days_for
from paybridge.services.payouts import payout_due_on, scheduled_key
from paybridge.services.providers import provider_fee
from paybridge.services.rollups import rollup_apply
from paybridge.services.transactions import new_reference

FIRST_NAMES = "ada amaka bola chidi david efe fatima grace hassan ifeoma james kemi lara musa nia olu peter queen ruth sam tobi uche victor wanjiru yemi zara".split()  # noqa: E501
DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "proton.me", "company.ng", "shop.co.ke")
# currency, share of payments, typical amount in minor units
CURRENCY_MIX = (("USD", 0.70, 4_500), ("NGN", 0.20, 2_500_000), ("EUR", 0.10, 6_000))
# provider code -> (share of payments, success rate among finished payments)
PROVIDER_MIX = {
    "card": (0.35, 0.985),
    "mobile_money": (0.20, 0.965),
    "bank_transfer": (0.15, 0.99),
    "stripe": (0.15, 0.992),
    "paystack": (0.10, 0.975),
    "flutterwave": (0.05, 0.93),
}
REFUND_RATE = 0.012
BATCH = 5_000
PAYOUT_HOUR = 6  # local time of the seeded scheduled payouts
PAYOUT_FAILURE = "Payout declined by the bank"


def random_payment_shape(rng: random.Random) -> tuple[str, int, str]:
    """(currency, amount in minor units, provider code) drawn from the demo mixes."""
    currency, _, typical = rng.choices(CURRENCY_MIX, weights=[c[1] for c in CURRENCY_MIX])[0]
    amount = max(100, int(rng.lognormvariate(0, 0.9) * typical))
    codes = list(PROVIDER_MIX)
    provider = rng.choices(codes, weights=[PROVIDER_MIX[c][0] for c in codes])[0]
    return currency, amount, provider


def random_customer(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)}.{rng.randint(1, 999)}@{rng.choice(DOMAINS)}"


def final_status(rng: random.Random, provider: str) -> str:
    if rng.random() >= PROVIDER_MIX.get(provider, (0, 0.97))[1]:
        return TransactionStatus.FAILED.value
    return (
        TransactionStatus.REFUNDED.value
        if rng.random() < REFUND_RATE
        else TransactionStatus.SUCCESS.value
    )


def seed_history(
    *,
    merchant_id: int,
    days: int,
    transactions: int,
    now: datetime | None = None,
    seed: int = 7,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write `transactions` payments spread over the last `days` days, busier in daytime and
    growing over time; payments of the last 15 minutes are still pending."""
    rng = random.Random(seed + merchant_id)
    end = now or datetime.now(UTC)
    start = end - timedelta(days=days)
    span = (end - start).total_seconds()
    with write_session() as session:
        providers = {p.code: p for p in session.exec(select(Provider)).all()}
    written = 0
    while written < transactions:
        size = min(BATCH, transactions - written)
        batch: list[Transaction] = []
        for _ in range(size):
            # Growth: later days are busier (sqrt skews towards the end); daytime peaks.
            offset = span * rng.random() ** 0.8
            moment = start + timedelta(seconds=offset)
            if 1 <= moment.hour <= 6 and rng.random() < 0.6:
                moment += timedelta(hours=8)
            moment = min(moment, end - timedelta(seconds=1))
            currency, amount, code = random_payment_shape(rng)
            provider = providers[code]
            status = (
                TransactionStatus.PENDING.value
                if end - moment < timedelta(minutes=15)
                else final_status(rng, code)
            )
            fee = provider_fee(provider, amount)
            batch.append(
                Transaction(
                    merchant_id=merchant_id,
                    reference=new_reference(),
                    amount=amount,
                    currency=currency,
                    status=status,
                    provider_id=key(provider),
                    customer_email=random_customer(rng),
                    fee=fee,
                    net_amount=amount - fee,
                    created_at=moment,
                    updated_at=moment,
                )
            )
        with write_session() as session:
            session.add_all(batch)
            rollup_apply(session, ((tx, tx.status, +1) for tx in batch))
            session.commit()
        written += size
        if progress:
            progress(size)
    return written


def seed_payout_history(
    *, merchant_id: int, now: datetime | None = None, seed: int = 7, failure_rate: float = 0.12
) -> list[Settlement]:
    """The scheduled payouts the merchant's schedule would have made over its payment history,
    oldest first, each of the whole balance available at the time (written with the worker's
    own idempotency keys, so the worker never makes them again). About one in eight failed at
    the bank: its money went back to the available balance and into the next payout. The
    schedule is taken to be in force since the first payment. Today's payout, if today is a
    payout date and its hour has passed, is still processing; the worker completes it.

    What is left available is what was released since the last payout: a demo always has
    something to withdraw, except just after a payout, as in life."""
    end = now or utcnow()
    rng = random.Random(seed + merchant_id)
    made: list[Settlement] = []
    with write_session() as session:
        user = session.get(User, merchant_id)
        first = session.exec(
            select(sa.func.min(Transaction.created_at)).where(
                col(Transaction.merchant_id) == merchant_id
            )
        ).one()
        if user is None or first is None or user.payout_schedule == PayoutSchedule.MANUAL:
            return made
        if not user.bank_account_masked:
            return made
        first = first if first.tzinfo else first.replace(tzinfo=UTC)
        user.payout_schedule_since = min(user.payout_schedule_since, first)
        session.add(user)
        zone = ZoneInfo(user.timezone)
        day = (first + timedelta(days=hold_days_for(user))).astimezone(zone).date()

        def payout_time(day: date) -> datetime:
            return datetime.combine(day, time(PAYOUT_HOUR), tzinfo=zone).astimezone(UTC)

        while payout_time(day) <= end:
            if payout_due_on(user, day):
                at = payout_time(day)
                # Only a payout another has followed may have failed (its money went into
                # that one): the newest went through.
                later = next(d for d in _days_after(day) if payout_due_on(user, d))
                followed = payout_time(later) <= end
                for balance in balances(session=session, merchant_id=merchant_id, now=at):
                    if balance.available > 0:
                        failed = followed and rng.random() < failure_rate
                        made.append(_past_payout(session, user, balance, day, at, end, failed))
                        session.flush()  # the next payout's balance sees this one
            day += timedelta(days=1)
        session.commit()
    return made


def _days_after(day: date) -> Iterator[date]:
    while True:
        day += timedelta(days=1)
        yield day


def _past_payout(
    session: Session,
    user: User,
    balance: CurrencyBalance,
    day: date,
    at: datetime,
    end: datetime,
    failed: bool,
) -> Settlement:
    """One scheduled payout made at `at`: settled (completed or failed) a day later, or still
    processing if that day has not passed."""
    settled_at = at + timedelta(days=1)
    if settled_at > end:
        status, reason, finished = SettlementStatus.PROCESSING, None, None
    elif failed:
        status, reason, finished = SettlementStatus.FAILED, PAYOUT_FAILURE, settled_at
    else:
        status, reason, finished = SettlementStatus.COMPLETED, None, settled_at
    settlement = Settlement(
        merchant_id=key(user),
        amount=balance.available,
        currency=balance.currency,
        status=status.value,
        reference=f"po_{secrets.token_hex(12)}",
        bank_account=user.bank_account_masked,
        idempotency_key=scheduled_key(day, balance.currency),
        failure_reason=reason,
        created_at=at,
        completed_at=finished,
    )
    session.add(settlement)
    return settlement

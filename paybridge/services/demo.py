"""Demo history: months of realistic payments written in bulk (no outbox events: history is not
news, and webhooks must not fire for it). Rollups are updated by the same code as live writes."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from paybridge.db import write_session
from paybridge.models import Provider, Transaction, TransactionStatus
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
                    provider_id=provider.id,
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

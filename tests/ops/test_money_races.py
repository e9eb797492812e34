"""Money paths raced by many clients at once through HTTP, on two app instances behind nginx
(the deployed topology), with the worker's own writes (scheduled payouts, payout failures,
status changes from a provider) running at the same time in this process:

- no 5xx, no hang, no deadlock (PostgreSQL's own deadlock counter does not move);
- every loser of a race gets a clear 4xx: `insufficient_funds` with what is available,
  `refund_exceeds_remaining`, `idempotency_key_in_use`;
- afterwards the money identities hold (tests/money.py): rollups = raw, refunds add up,
  available = released net - payouts not failed >= 0, one event per payment and payout.

Before the lock order was fixed, 30 concurrent withdrawals with their own keys gave one 201
and 29 503s (DeadlockDetected): each idempotency claim took FOR KEY SHARE on the merchant row,
and each withdrawal then had to upgrade it to FOR UPDATE.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from paybridge.db import read_session
from paybridge.errors import DomainError
from paybridge.models import Event, Provider, Settlement, Transaction
from paybridge.selectors.balances import available_balance
from paybridge.services.payouts import payouts_run_scheduled
from paybridge.services.settlements import settlement_update_status
from paybridge.services.transactions import transaction_create, transaction_update_status
from paybridge.services.users import user_update_payout_settings
from tests.api.conftest import Caller, api_key_for
from tests.conftest import TestDatabase, create_merchant, seed_available
from tests.money import money_problems
from tests.ops.clients import Answer, send, together
from tests.ops.topology import Topology

pytestmark = pytest.mark.timeout(600)

FRIDAY_NOON = datetime(2026, 12, 4, 12, tzinfo=UTC)  # a weekly payout day (weekday 4)


def deadlocks(db: TestDatabase) -> int:
    with db.engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        ).scalar_one()


def urls(instances: Topology) -> list[str]:
    return [instances.nginx.url, *(i.url for i in instances.instances)]


def available(merchant_id: int) -> int:
    with read_session() as session:
        return available_balance(session=session, merchant_id=merchant_id, currency="USD")


def assert_books_balance(db: TestDatabase) -> None:
    with db.session() as session:
        assert money_problems(session) == []


def codes(answers: list[Answer]) -> Counter[object]:
    return Counter(a.body.get("error", {}).get("code", a.status) for a in answers)


def test_thirty_withdrawals_of_a_tenth_each_ten_succeed(
    instances: Topology, db: TestDatabase, alice: Caller, providers: dict[str, Provider]
) -> None:
    seed_available(alice.user.id, providers["card"], 100_000)
    bases, before = urls(instances), deadlocks(db)
    answers = together(
        30,
        lambda n: send(
            bases[n % 3],
            "/settlements/withdraw",
            {"amount": 10_000, "currency": "USD"},
            alice.token,
            key=f"tenth-{n}",
        ),
    )
    assert codes(answers) == {201: 10, "insufficient_funds": 20}, codes(answers)
    refused = [a.body["error"]["message"] for a in answers if a.status == 422]
    assert all(re.fullmatch(r"Only \$[\d,]+\.\d\d is available to withdraw\.", m) for m in refused)
    assert deadlocks(db) == before
    assert available(alice.user.id) == 0
    with db.session() as session:
        assert session.exec(select(sa.func.count()).select_from(Settlement)).one() == 10
        events = session.exec(select(Event).where(Event.type == "settlement.created")).all()
    assert len(events) == 10
    assert_books_balance(db)


def test_concurrent_partial_refunds_of_one_payment_never_exceed_it(
    instances: Topology, db: TestDatabase, alice: Caller, providers: dict[str, Provider]
) -> None:
    seed_available(alice.user.id, providers["card"], 50_000)  # covers the refunds' net
    bases = urls(instances)
    created = send(
        bases[0],
        "/transactions",
        {"amount": 10_000, "currency": "USD", "provider": "card",
         "customer_email": "a@b.co", "status": "success", "reference": "shared"},
        alice.token,
    )  # fmt: skip
    assert created.status == 201
    before = deadlocks(db)
    answers = together(
        30,
        lambda n: send(
            bases[n % 3],
            "/transactions/shared/refund",
            {"amount": 500},
            alice.token,
            key=f"refund-{n}",
        ),
    )
    found = codes(answers)
    assert found[200] == 20, found  # the last 500 leaves nothing: the rest are refused
    assert found["not_refundable"] + found["refund_exceeds_remaining"] == 10, found
    assert deadlocks(db) == before
    with db.session() as session:
        tx = session.exec(select(Transaction).where(Transaction.reference == "shared")).one()
    assert (tx.status, tx.refunded_amount) == ("refunded", 10_000)
    assert_books_balance(db)


def test_the_same_key_twenty_times_at_once_has_one_effect(
    instances: Topology, db: TestDatabase, alice: Caller, providers: dict[str, Provider]
) -> None:
    seed_available(alice.user.id, providers["card"], 100_000)
    bases = urls(instances)

    def withdraw(n: int) -> Answer:
        body = {"amount": 2_500, "currency": "USD"}
        return send(bases[n % 3], "/settlements/withdraw", body, alice.token, key="one-payout")

    answers = together(20, withdraw)
    made = [a for a in answers if a.status == 201]
    assert made and all(a.body == made[0].body for a in made)
    assert sum(not a.replayed for a in made) == 1
    others = [a for a in answers if a.status != 201]
    assert all(a.body["error"]["code"] == "idempotency_key_in_use" for a in others), others[:3]
    again = withdraw(0)
    assert again.status == 201 and again.replayed and again.body == made[0].body
    with db.session() as session:
        assert len(session.exec(select(Settlement)).all()) == 1
    assert available(alice.user.id) == 100_000 - 2_500
    assert_books_balance(db)


def test_refunds_racing_the_payments_status_changes(
    instances: Topology, db: TestDatabase, alice: Caller, providers: dict[str, Provider]
) -> None:
    """A provider's callbacks (pending -> success or failed) race the merchant's refunds: a
    refund sees the payment either still pending (422 not_refundable) or successful."""
    old = datetime.now(UTC) - timedelta(days=10)
    references = []
    for n in range(12):
        tx = transaction_create(
            merchant_id=alice.user.id, amount=4_000, currency="USD", provider="card",
            customer_email="a@b.co", status="pending", created_at=old, reference=f"race-{n}",
        )  # fmt: skip
        references.append(tx.reference)
    bases, before = urls(instances), deadlocks(db)

    def act(n: int) -> object:
        reference = references[n % 12]
        if n < 12:  # the provider decides
            try:
                return transaction_update_status(
                    merchant_id=alice.user.id,
                    reference=reference,
                    status="success" if n % 3 else "failed",
                )
            except DomainError as error:
                return error.code
        return send(
            bases[n % 3], f"/transactions/{reference}/refund", {"amount": 1_000}, alice.token
        )

    results = together(48, act)
    answers = [r for r in results if isinstance(r, Answer)]
    assert set(codes(answers)) <= {200, "not_refundable", "insufficient_funds"}, codes(answers)
    assert deadlocks(db) == before
    assert_books_balance(db)


def test_scheduled_payouts_and_failures_racing_withdrawals(
    instances: Topology, db: TestDatabase, alice: Caller, providers: dict[str, Provider]
) -> None:
    """The worker's scheduled payout of everything available, and payouts failing (money back
    to available), race the merchant's own withdrawals."""
    seed_available(alice.user.id, providers["card"], 60_000)
    bases, payout = urls(instances), {"amount": 5_000, "currency": "USD"}
    made = [send(bases[0], "/settlements/withdraw", payout, alice.token) for _ in range(4)]
    assert all(a.status == 201 for a in made)
    user_update_payout_settings(user_id=alice.user.id, schedule="weekly", weekday=4)
    before = deadlocks(db)

    def act(n: int) -> object:
        if n == 0:
            return payouts_run_scheduled(now=FRIDAY_NOON)
        if n <= 4:  # the bank rejects an earlier payout: its money is available again
            reference = made[n - 1].body["reference"]
            settlement_update_status(
                merchant_id=alice.user.id, reference=reference, status="processing"
            )
            return settlement_update_status(
                merchant_id=alice.user.id, reference=reference, status="failed",
                failure_reason="Account closed",
            )  # fmt: skip
        body = {"amount": 3_000, "currency": "USD"}
        return send(bases[n % 3], "/settlements/withdraw", body, alice.token, key=f"w-{n}")

    results = together(30, act)
    answers = [r for r in results if isinstance(r, Answer)]
    assert set(codes(answers)) <= {201, "insufficient_funds"}, codes(answers)
    assert deadlocks(db) == before
    assert available(alice.user.id) >= 0
    assert_books_balance(db)


def test_a_random_storm_across_two_merchants_keeps_the_books(
    instances: Topology, db: TestDatabase, alice: Caller, providers: dict[str, Provider]
) -> None:
    """Seeded random withdrawals, partial and full refunds, status changes and payout failures
    for two merchants at once; each successful write is one outbox event."""
    rng = random.Random(20)
    bob_user = create_merchant("bob@example.com")
    merchants = [alice, Caller(bob_user, api_key_for(bob_user))]
    old = datetime.now(UTC) - timedelta(days=10)
    payments: dict[int, list[str]] = {}
    for caller in merchants:
        seed_available(caller.user.id, providers["card"], 30_000)
        payments[caller.user.id] = [
            transaction_create(
                merchant_id=caller.user.id, amount=rng.randrange(2_000, 9_000), currency="USD",
                provider=rng.choice(["card", "mobile_money", "bank_transfer"]),
                customer_email="a@b.co", status=rng.choice(["pending", "success"]),
                created_at=old if rng.random() < 0.6 else None,
            ).reference
            for _ in range(15)
        ]  # fmt: skip
    with db.session() as session:
        events_before = Counter(session.exec(select(Event.type)).all())
    bases, before = urls(instances), deadlocks(db)
    plan = [(rng.choice(merchants), rng.random(), rng.randrange(10**6)) for _ in range(150)]
    lowest: list[int] = []
    lock = threading.Lock()

    def act(n: int) -> tuple[str, object]:
        caller, kind, seed = plan[n]
        pick = random.Random(seed)
        reference = pick.choice(payments[caller.user.id])
        if kind < 0.35:
            body = {"amount": pick.randrange(1_000, 8_000), "currency": "USD"}
            answer = send(bases[n % 3], "/settlements/withdraw", body, caller.token, key=f"s{n}")
            with lock:
                lowest.append(available(caller.user.id))
            return "withdraw", answer
        if kind < 0.7:
            body = {"amount": pick.randrange(100, 3_000)} if pick.random() < 0.7 else None
            return "refund", send(
                bases[n % 3], f"/transactions/{reference}/refund", body, caller.token
            )
        if kind < 0.85:
            try:
                transaction_update_status(
                    merchant_id=caller.user.id, reference=reference,
                    status=pick.choice(["success", "failed"]),
                )  # fmt: skip
                return "status", 200
            except DomainError as error:
                return "status", error.code
        with read_session() as session:
            open_payouts = session.exec(
                select(Settlement.reference).where(
                    Settlement.merchant_id == caller.user.id, Settlement.status == "pending"
                )
            ).all()
        if not open_payouts:
            return "payout", "none"
        try:
            settlement_update_status(
                merchant_id=caller.user.id, reference=pick.choice(open_payouts), status="failed",
                failure_reason="Payout declined by the bank",
            )  # fmt: skip
            return "payout", 200
        except DomainError as error:
            return "payout", error.code

    results = together(len(plan), act, threads=40)
    answers = [a for _, a in results if isinstance(a, Answer)]
    assert all(a.status is not None and a.status < 500 for a in answers), [
        a for a in answers if a.status is None or a.status >= 500
    ][:3]
    assert set(codes(answers)) <= {
        200, 201, "insufficient_funds", "not_refundable", "refund_exceeds_remaining",
    }, codes(answers)  # fmt: skip
    assert deadlocks(db) == before
    assert min(lowest) >= 0
    assert_books_balance(db)

    succeeded = Counter(
        kind
        for kind, outcome in results
        if outcome == 200 or (isinstance(outcome, Answer) and outcome.status in (200, 201))
    )
    with db.session() as session:
        events = Counter(session.exec(select(Event.type)).all()) - events_before
    assert events["settlement.created"] == succeeded["withdraw"]
    assert events["settlement.updated"] == succeeded["payout"]
    assert events["transaction.updated"] == succeeded["refund"] + succeeded["status"]

"""The payout lifecycle through the sandbox rail: pending -> processing -> completed after a
delay, the documented failing test accounts, and a failed payout returning its money."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlmodel import select

from paybridge.db import read_session
from paybridge.models import Event, Provider, Settlement, User
from paybridge.selectors.balances import available_balance
from paybridge.services.payouts import (
    SandboxRail,
    payouts_advance,
    scheduled_key,
)
from paybridge.services.settlements import settlement_withdraw
from paybridge.services.users import user_update_payout_settings
from paybridge.worker import Worker, WorkerConfig
from tests.conftest import TestDatabase, create_merchant, seed_available

pytestmark = pytest.mark.timeout(60)

RAIL = SandboxRail(processing_after=10, complete_after=60)


def available(merchant_id: int) -> int:
    with read_session() as session:
        return available_balance(session=session, merchant_id=merchant_id, currency="USD")


def settlement(reference: str) -> Settlement:
    with read_session() as session:
        return session.exec(select(Settlement).where(Settlement.reference == reference)).one()


def settlement_events(reference: str) -> list[tuple[str, str]]:
    with read_session() as session:
        events = session.exec(select(Event).order_by(Event.id)).all()
    return [
        (e.type, e.payload["status"])
        for e in events
        if e.type.startswith("settlement.") and e.payload.get("reference") == reference
    ]


def funded(providers: dict[str, Provider], account: str, email: str) -> User:
    user = create_merchant(email)
    user = user_update_payout_settings(
        user_id=user.id, schedule="manual", bank_name="Sandbox Bank", bank_account_number=account
    )
    seed_available(user.id, providers["card"], 10_000)
    return user


def test_a_payout_goes_pending_processing_completed_after_the_delays(
    db: TestDatabase, providers: dict[str, Provider]
) -> None:
    user = funded(providers, "0123456789", "ok@example.com")
    payout = settlement_withdraw(merchant_id=user.id, amount=4_000, currency="USD")
    start = payout.created_at

    assert payouts_advance(rail=RAIL, now=start + timedelta(seconds=5)) == 0
    assert settlement(payout.reference).status == "pending"
    assert payouts_advance(rail=RAIL, now=start + timedelta(seconds=11)) == 1
    assert settlement(payout.reference).status == "processing"
    assert payouts_advance(rail=RAIL, now=start + timedelta(seconds=30)) == 0
    assert payouts_advance(rail=RAIL, now=start + timedelta(seconds=61)) == 1
    done = settlement(payout.reference)
    assert done.status == "completed" and done.completed_at is not None
    assert done.failure_reason is None
    assert available(user.id) == 6_000  # stays paid out
    assert payouts_advance(rail=RAIL, now=start + timedelta(days=1)) == 0
    assert settlement_events(payout.reference) == [
        ("settlement.created", "pending"),
        ("settlement.updated", "processing"),
        ("settlement.updated", "completed"),
    ]


def test_a_late_look_moves_a_payout_through_both_steps(
    db: TestDatabase, providers: dict[str, Provider]
) -> None:
    user = funded(providers, "0123456789", "late@example.com")
    payout = settlement_withdraw(merchant_id=user.id, amount=1_000, currency="USD")
    assert payouts_advance(rail=RAIL, now=payout.created_at + timedelta(hours=1)) == 2
    assert settlement(payout.reference).status == "completed"


@pytest.mark.parametrize(
    ("account", "reason", "statuses"),
    [
        ("000123450002", "Account closed", ["processing", "failed"]),
        ("99990004", "Payout declined by the bank", ["processing", "failed"]),
        ("GB00TEST00000003", "Invalid account number", ["failed"]),
    ],
)
def test_test_accounts_fail_and_the_money_returns_to_available(
    db: TestDatabase,
    providers: dict[str, Provider],
    account: str,
    reason: str,
    statuses: list[str],
) -> None:
    user = funded(providers, account, "fails@example.com")
    payout = settlement_withdraw(merchant_id=user.id, amount=7_000, currency="USD")
    assert available(user.id) == 3_000

    assert payouts_advance(rail=RAIL, now=payout.created_at + timedelta(minutes=5)) == len(statuses)
    failed = settlement(payout.reference)
    assert (failed.status, failed.failure_reason) == ("failed", reason)
    assert failed.completed_at is not None
    assert available(user.id) == 10_000  # reversed
    assert [status for _, status in settlement_events(payout.reference)] == [
        "pending",
        *statuses,
    ]
    # The returned money can be withdrawn again.
    settlement_withdraw(merchant_id=user.id, amount=10_000, currency="USD")
    assert available(user.id) == 0


def test_only_open_payouts_are_advanced_and_each_merchant_keeps_its_own(
    db: TestDatabase, providers: dict[str, Provider]
) -> None:
    good = funded(providers, "0123456789", "good@example.com")
    bad = funded(providers, "0000000002", "bad@example.com")
    first = settlement_withdraw(merchant_id=good.id, amount=1_000, currency="USD")
    second = settlement_withdraw(merchant_id=bad.id, amount=2_000, currency="USD")
    later = first.created_at + timedelta(hours=1)
    assert payouts_advance(rail=RAIL, now=later) == 4
    assert settlement(first.reference).status == "completed"
    assert settlement(second.reference).status == "failed"
    assert (available(good.id), available(bad.id)) == (9_000, 10_000)
    assert payouts_advance(rail=RAIL, now=later) == 0


def test_the_worker_makes_the_scheduled_payout_and_completes_it(
    db: TestDatabase, providers: dict[str, Provider]
) -> None:
    """End to end in the worker loop: a daily merchant's balance is paid out on today's date
    and the sandbox rail completes it."""
    from paybridge.services.payouts import local_today

    user = create_merchant("daily@example.com", timezone="Asia/Tokyo")
    user = user_update_payout_settings(user_id=user.id, schedule="daily")
    seed_available(user.id, providers["card"], 5_500)
    worker = Worker(
        WorkerConfig(
            poll_interval=0.02,
            payout_interval=0.05,
            rail=SandboxRail(processing_after=0, complete_after=0.2),
        )
    )
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        for _ in range(300):
            with read_session() as session:
                rows = session.exec(select(Settlement)).all()
            if rows and rows[0].status == "completed":
                break
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(timeout=15)
    [payout] = rows
    assert (payout.merchant_id, payout.amount, payout.status) == (user.id, 5_500, "completed")
    assert payout.idempotency_key == scheduled_key(local_today(user), "USD")
    assert available(user.id) == 0
    assert [s for _, s in settlement_events(payout.reference)] == [
        "pending",
        "processing",
        "completed",
    ]


def test_sandbox_delays_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYBRIDGE_SANDBOX_PROCESSING_SECONDS", "1.5")
    monkeypatch.setenv("PAYBRIDGE_SANDBOX_COMPLETE_SECONDS", "9")
    rail = SandboxRail.from_env()
    assert (rail.processing_after, rail.complete_after, rail.name) == (1.5, 9.0, "sandbox")


def test_two_workers_advancing_at_once_make_each_change_once(
    db: TestDatabase, providers: dict[str, Provider]
) -> None:
    user = funded(providers, "0123456789", "race@example.com")
    payouts = [
        settlement_withdraw(merchant_id=user.id, amount=1_000, currency="USD") for _ in range(5)
    ]
    later = payouts[-1].created_at + timedelta(hours=1)
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def advance() -> None:
        barrier.wait(timeout=10)
        counts.append(payouts_advance(rail=RAIL, now=later))

    threads = [threading.Thread(target=advance) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sum(counts) == 10  # 5 payouts x (processing, completed), each made once
    for payout in payouts:
        assert [s for _, s in settlement_events(payout.reference)] == [
            "pending",
            "processing",
            "completed",
        ]

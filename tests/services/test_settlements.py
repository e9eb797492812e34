"""services.settlements: withdrawals never overdraw (even 20 at once), idempotency keys,
the payout lifecycle, and the hold period."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from paybridge.db import read_session, utcnow
from paybridge.errors import DomainError
from paybridge.models import Event, Provider, Settlement, User
from paybridge.selectors.balances import CurrencyBalance, available_balance, balances
from paybridge.services.settlements import settlement_update_status, settlement_withdraw
from paybridge.services.transactions import transaction_create, transaction_update_status
from paybridge.services.users import user_update_payout_settings
from tests.conftest import TestDatabase, create_merchant, net_amount_for, seed_available

pytestmark = pytest.mark.timeout(120)


def available(merchant_id: int, currency: str = "USD") -> int:
    with read_session() as session:
        return available_balance(session=session, merchant_id=merchant_id, currency=currency)


def balance_of(merchant_id: int, currency: str = "USD", now: datetime | None = None):
    with read_session() as session:
        for item in balances(session=session, merchant_id=merchant_id, now=now):
            if item.currency == currency:
                return item
    return CurrencyBalance(currency=currency, available=0, pending=0)


def settlements(merchant_id: int | None = None) -> list[Settlement]:
    with read_session() as session:
        query = select(Settlement).order_by(Settlement.id)
        if merchant_id is not None:
            query = query.where(Settlement.merchant_id == merchant_id)
        return list(session.exec(query).all())


def run_together(count: int, call: Callable[[int], Any]) -> list[tuple[str, Any]]:
    """Run call(0..count-1) in `count` threads released at the same moment; each thread uses
    its own pooled connection. Returns ("ok", result) or ("error", code) per call."""
    barrier = threading.Barrier(count)

    def one(i: int) -> tuple[str, Any]:
        barrier.wait(timeout=30)
        try:
            return ("ok", call(i))
        except DomainError as error:
            return ("error", error.code)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(one, i) for i in range(count)]
        return [f.result(timeout=90) for f in futures]


@pytest.fixture
def funded(db: TestDatabase, merchant: User, providers: dict[str, Provider]) -> User:
    """The merchant with exactly 100.00 USD available (two old successful payments)."""
    seed_available(merchant.id, providers["card"], 6_000, days_ago=30)
    seed_available(merchant.id, providers["mobile_money"], 4_000, days_ago=8)
    assert available(merchant.id) == 10_000
    assert balance_of(merchant.id).pending == 0
    return merchant


# --- concurrency -----------------------------------------------------------------------------


def test_twenty_concurrent_withdrawals_never_overdraw(db: TestDatabase, funded: User) -> None:
    lowest: list[int] = []
    done = threading.Event()

    def watch() -> None:  # a reader sampling the balance while the writers race
        while not done.is_set():
            lowest.append(available(funded.id))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        results = run_together(
            20,
            lambda _i: settlement_withdraw(merchant_id=funded.id, amount=1_000, currency="USD"),
        )
    finally:
        done.set()
        watcher.join(timeout=30)

    outcomes = Counter(kind if kind == "ok" else value for kind, value in results)
    assert outcomes == {"ok": 10, "insufficient_funds": 10}
    made = settlements(funded.id)
    assert len(made) == 10
    assert {s.amount for s in made} == {1_000}
    assert len({s.reference for s in made}) == 10
    assert {r.reference for kind, r in results if kind == "ok"} == {s.reference for s in made}
    assert available(funded.id) == 0
    assert lowest and min(lowest) >= 0
    with db.session() as session:
        created = session.exec(select(Event).where(Event.type == "settlement.created")).all()
    assert len(created) == 10


def test_withdrawals_and_refunds_racing_never_overdraw(db: TestDatabase, funded: User) -> None:
    """Refunds of released payments take from the available balance too: raced against
    withdrawals they are refused rather than push it below zero, on both backends."""
    from tests.money import money_problems

    refundable = [
        transaction_create(
            merchant_id=funded.id, amount=2_000, currency="USD", provider="bank_transfer",
            customer_email="a@b.co", status="success", created_at=utcnow() - timedelta(days=20),
        ).reference
        for _ in range(4)
    ]  # fmt: skip
    start = available(funded.id)

    def act(i: int) -> object:
        if i % 2:
            return settlement_withdraw(merchant_id=funded.id, amount=2_500, currency="USD")
        return transaction_update_status(
            merchant_id=funded.id, reference=refundable[i // 2 % 4], status="refunded"
        )

    results = run_together(16, act)
    assert {value for kind, value in results if kind == "error"} <= {
        "insufficient_funds",
        "invalid_status_transition",
        "not_refundable",
    }
    assert start > 0 and available(funded.id) >= 0
    with read_session() as session:
        assert money_problems(session) == []


def test_a_busy_sqlite_database_makes_a_withdrawal_wait_not_fail(
    db: TestDatabase, funded: User
) -> None:
    """SQLite's one write lock, held by another connection for a while: the withdrawal waits
    (busy timeout) and then succeeds."""
    if not db.is_sqlite:
        pytest.skip("SQLite's database-wide write lock")
    holding = threading.Event()

    def hold_the_write_lock() -> None:
        with db.engine.execution_options(sqlite_immediate=True).begin():  # BEGIN IMMEDIATE
            holding.set()
            time.sleep(1.5)

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    assert holding.wait(10)
    settlement = settlement_withdraw(merchant_id=funded.id, amount=1_000, currency="USD")
    holder.join(10)
    assert settlement.status == "pending" and available(funded.id) == 9_000


def test_concurrent_requests_with_one_idempotency_key_create_one_settlement(
    db: TestDatabase, funded: User
) -> None:
    results = run_together(
        10,
        lambda _i: settlement_withdraw(
            merchant_id=funded.id, amount=2_500, currency="USD", idempotency_key="payout-42"
        ),
    )
    assert [kind for kind, _ in results] == ["ok"] * 10
    assert len({value.reference for _, value in results}) == 1
    [only] = settlements(funded.id)
    assert only.reference == results[0][1].reference
    assert only.idempotency_key == "payout-42"
    assert available(funded.id) == 7_500


# --- idempotency -----------------------------------------------------------------------------


def test_same_key_returns_the_same_settlement_and_debits_once(
    db: TestDatabase, funded: User
) -> None:
    first = settlement_withdraw(
        merchant_id=funded.id, amount=3_000, currency="USD", idempotency_key="k-1"
    )
    events_after_first = db.count(Event)
    again = settlement_withdraw(
        merchant_id=funded.id, amount=3_000, currency="usd", idempotency_key="k-1"
    )
    assert again.id == first.id and again.reference == first.reference
    assert available(funded.id) == 7_000
    assert len(settlements(funded.id)) == 1
    assert db.count(Event) == events_after_first  # a replay announces nothing new
    # A replay succeeds even when the balance could no longer pay for it.
    settlement_withdraw(merchant_id=funded.id, amount=7_000, currency="USD")
    assert available(funded.id) == 0
    replay = settlement_withdraw(
        merchant_id=funded.id, amount=3_000, currency="USD", idempotency_key="k-1"
    )
    assert replay.reference == first.reference
    assert available(funded.id) == 0


@pytest.mark.parametrize(("amount", "currency"), [(3_001, "USD"), (3_000, "EUR")])
def test_same_key_for_another_withdrawal_is_refused(
    db: TestDatabase, funded: User, amount: int, currency: str
) -> None:
    settlement_withdraw(merchant_id=funded.id, amount=3_000, currency="USD", idempotency_key="k")
    before = db.counts()
    with pytest.raises(DomainError) as info:
        settlement_withdraw(
            merchant_id=funded.id, amount=amount, currency=currency, idempotency_key="k"
        )
    assert info.value.code == "idempotency_key_reused"
    assert info.value.param == "idempotency_key"
    assert db.counts() == before
    assert available(funded.id) == 7_000


def test_without_a_key_every_call_is_a_new_withdrawal(db: TestDatabase, funded: User) -> None:
    a = settlement_withdraw(merchant_id=funded.id, amount=1_000, currency="USD")
    b = settlement_withdraw(merchant_id=funded.id, amount=1_000, currency="USD")
    assert a.reference != b.reference
    assert a.reference.startswith("po_")
    assert a.bank_account == "•••• 6789"
    assert available(funded.id) == 8_000


def test_idempotency_keys_belong_to_one_merchant(
    db: TestDatabase, funded: User, providers: dict[str, Provider]
) -> None:
    other = create_merchant("other@example.com")
    seed_available(other.id, providers["card"], 5_000)
    mine = settlement_withdraw(
        merchant_id=funded.id, amount=1_000, currency="USD", idempotency_key="shared"
    )
    theirs = settlement_withdraw(
        merchant_id=other.id, amount=2_000, currency="USD", idempotency_key="shared"
    )
    assert mine.reference != theirs.reference
    assert (available(funded.id), available(other.id)) == (9_000, 3_000)


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"amount": 10_001}, "insufficient_funds"),
        ({"amount": 1, "currency": "JPY"}, "insufficient_funds"),
        ({"amount": 0}, "invalid_amount"),
        ({"amount": -5}, "invalid_amount"),
        ({"amount": 10.0}, "invalid_amount"),
        ({"amount": True}, "invalid_amount"),
        ({"currency": "ABC"}, "invalid_currency"),
        ({"idempotency_key": ""}, "invalid_idempotency_key"),
        ({"idempotency_key": "k" * 256}, "invalid_idempotency_key"),
        ({"merchant_id": 999_999}, "not_found"),
    ],
    ids=lambda v: (
        "-".join(f"{k}={v!r}"[:30] for k, v in v.items()) if isinstance(v, dict) else None
    ),
)
def test_bad_withdrawal_is_refused_and_writes_nothing(
    db: TestDatabase, funded: User, kwargs: dict, code: str
) -> None:
    before = db.counts()
    call = {"merchant_id": funded.id, "amount": 1_000, "currency": "USD"} | kwargs
    with pytest.raises(DomainError) as info:
        settlement_withdraw(**call)
    assert info.value.code == code
    assert info.value.message
    assert db.counts() == before
    assert available(funded.id) == 10_000


def test_insufficient_funds_message_shows_what_is_available(db: TestDatabase, funded: User) -> None:
    with pytest.raises(DomainError) as info:
        settlement_withdraw(merchant_id=funded.id, amount=10_001, currency="USD")
    assert info.value.param == "amount"
    assert "$100.00" in info.value.message
    assert settlement_withdraw(merchant_id=funded.id, amount=10_000, currency="USD").amount == (
        10_000
    )


def test_no_bank_account_is_refused(db: TestDatabase, providers: dict[str, Provider]) -> None:
    user = create_merchant("nobank@example.com", bank=False)
    seed_available(user.id, providers["card"], 5_000)
    with pytest.raises(DomainError) as info:
        settlement_withdraw(merchant_id=user.id, amount=1_000, currency="USD")
    assert info.value.code == "no_bank_account"
    assert settlements() == []


# --- lifecycle -------------------------------------------------------------------------------


def test_failed_payout_returns_the_money(db: TestDatabase, funded: User) -> None:
    payout = settlement_withdraw(merchant_id=funded.id, amount=4_000, currency="USD")
    assert available(funded.id) == 6_000

    processing = settlement_update_status(
        merchant_id=funded.id, reference=payout.reference, status="processing"
    )
    assert processing.status == "processing" and processing.completed_at is None
    assert available(funded.id) == 6_000

    failed = settlement_update_status(
        merchant_id=funded.id,
        reference=payout.reference,
        status="failed",
        failure_reason="Account closed",
    )
    assert failed.status == "failed"
    assert failed.failure_reason == "Account closed"
    assert failed.completed_at is not None
    assert available(funded.id) == 10_000
    with db.session() as session:
        types = session.exec(select(Event.type).order_by(Event.id)).all()
    assert types[-3:] == ["settlement.created", "settlement.updated", "settlement.updated"]
    # The returned money can be withdrawn again, in full.
    settlement_withdraw(merchant_id=funded.id, amount=10_000, currency="USD")
    assert available(funded.id) == 0


def test_completed_payout_stays_debited(db: TestDatabase, funded: User) -> None:
    payout = settlement_withdraw(merchant_id=funded.id, amount=2_500, currency="USD")
    settlement_update_status(merchant_id=funded.id, reference=payout.reference, status="processing")
    done = settlement_update_status(
        merchant_id=funded.id, reference=payout.reference, status="completed"
    )
    assert done.completed_at is not None and done.failure_reason is None
    assert available(funded.id) == 7_500


def test_failing_a_pending_payout_without_reason_gets_a_default(
    db: TestDatabase, funded: User
) -> None:
    payout = settlement_withdraw(merchant_id=funded.id, amount=1_000, currency="USD")
    failed = settlement_update_status(
        merchant_id=funded.id, reference=payout.reference, status="failed"
    )
    assert failed.failure_reason == "Payout failed."
    assert available(funded.id) == 10_000


@pytest.mark.parametrize(
    ("path", "bad", "code"),
    [
        ((), "completed", "invalid_status_transition"),
        ((), "pending", "invalid_status_transition"),
        (("processing",), "pending", "invalid_status_transition"),
        (("processing", "completed"), "failed", "invalid_status_transition"),
        (("failed",), "processing", "invalid_status_transition"),
        ((), "paid", "invalid_request"),
    ],
)
def test_illegal_payout_transitions_are_refused(
    db: TestDatabase, funded: User, path: tuple[str, ...], bad: str, code: str
) -> None:
    payout = settlement_withdraw(merchant_id=funded.id, amount=1_000, currency="USD")
    for status in path:
        settlement_update_status(merchant_id=funded.id, reference=payout.reference, status=status)
    before, balance = db.counts(), available(funded.id)
    with pytest.raises(DomainError) as info:
        settlement_update_status(merchant_id=funded.id, reference=payout.reference, status=bad)
    assert info.value.code == code
    assert db.counts() == before
    assert available(funded.id) == balance


def test_another_merchants_payout_is_not_found(db: TestDatabase, funded: User) -> None:
    payout = settlement_withdraw(merchant_id=funded.id, amount=1_000, currency="USD")
    with pytest.raises(DomainError) as info:
        settlement_update_status(merchant_id=999_999, reference=payout.reference, status="failed")
    assert info.value.code == "not_found"
    assert settlements(funded.id)[0].status == "pending"
    assert available(funded.id) == 9_000


# --- hold period -----------------------------------------------------------------------------


def test_payments_inside_the_hold_are_pending_not_available(
    db: TestDatabase, merchant: User, providers: dict[str, Provider]
) -> None:
    seed_available(merchant.id, providers["card"], 3_000, days_ago=3)  # inside 7 days
    assert balance_of(merchant.id) == CurrencyBalance("USD", available=0, pending=3_000)
    with pytest.raises(DomainError) as info:
        settlement_withdraw(merchant_id=merchant.id, amount=1, currency="USD")
    assert info.value.code == "insufficient_funds"

    seed_available(merchant.id, providers["card"], 2_000, days_ago=8)  # past the hold
    assert balance_of(merchant.id) == CurrencyBalance("USD", available=2_000, pending=3_000)
    # Ten days on, the first payment is released as well.
    later = utcnow() + timedelta(days=10)
    assert balance_of(merchant.id, now=later) == CurrencyBalance("USD", 5_000, 0)


def test_only_successful_payments_count(
    db: TestDatabase, merchant: User, providers: dict[str, Provider]
) -> None:
    old = utcnow() - timedelta(days=20)
    common = {"merchant_id": merchant.id, "currency": "USD", "customer_email": "a@example.com"}
    transaction_create(**common, amount=1_000, provider="mobile_money", created_at=old)
    transaction_create(
        **common, amount=2_000, provider="mobile_money", created_at=old, status="failed"
    )
    refunded = transaction_create(
        **common, amount=4_000, provider="mobile_money", created_at=old, status="success"
    )
    assert available(merchant.id) == 4_000 - 60
    transaction_update_status(
        merchant_id=merchant.id, reference=refunded.reference, status="refunded"
    )
    assert available(merchant.id) == 0
    assert balance_of(merchant.id).pending == 0


def test_hold_boundary_inside_one_hour(
    db: TestDatabase, merchant: User, providers: dict[str, Provider]
) -> None:
    """Payments in the hour the cutoff falls in are split exactly at the cutoff."""
    now = datetime(2025, 6, 10, 12, 30, tzinfo=UTC)
    cutoff = now - timedelta(days=7)
    bank = providers["bank_transfer"]
    for _label, moment, net in [
        ("early_hour", cutoff.replace(minute=0) - timedelta(minutes=1), 100),
        ("same_hour_before", cutoff - timedelta(minutes=1), 200),
        ("at_cutoff", cutoff, 400),
        ("same_hour_after", cutoff + timedelta(minutes=1), 800),
        ("next_hour", cutoff.replace(minute=0) + timedelta(hours=1), 1_600),
    ]:
        transaction_create(
            merchant_id=merchant.id,
            amount=net_amount_for(bank, net),
            currency="USD",
            provider="bank_transfer",
            customer_email="a@example.com",
            status="success",
            created_at=moment,
        )
    balance = balance_of(merchant.id, now=now)
    assert balance.available == 100 + 200
    assert balance.pending == 400 + 800 + 1_600


@pytest.mark.parametrize("hold_days", [0, 2, 30])
def test_merchant_hold_days_override_the_platform_default(
    db: TestDatabase, merchant: User, providers: dict[str, Provider], hold_days: int
) -> None:
    seed_available(merchant.id, providers["card"], 1_000, days_ago=1)
    seed_available(merchant.id, providers["card"], 2_000, days_ago=5)
    seed_available(merchant.id, providers["card"], 4_000, days_ago=10)
    assert balance_of(merchant.id) == CurrencyBalance("USD", 4_000, 3_000)  # default 7 days
    user_update_payout_settings(user_id=merchant.id, schedule="weekly", hold_days=hold_days)
    expected = {0: 7_000, 2: 6_000, 30: 0}[hold_days]
    assert balance_of(merchant.id) == CurrencyBalance("USD", expected, 7_000 - expected)


def test_currencies_have_separate_balances(
    db: TestDatabase, merchant: User, providers: dict[str, Provider]
) -> None:
    seed_available(merchant.id, providers["mobile_money"], 5_000, currency="USD")
    seed_available(merchant.id, providers["mobile_money"], 700, currency="JPY")
    settlement_withdraw(merchant_id=merchant.id, amount=700, currency="JPY")
    with read_session() as session:
        got = balances(session=session, merchant_id=merchant.id)
    assert got == [CurrencyBalance("JPY", 0, 0), CurrencyBalance("USD", 5_000, 0)]
    with pytest.raises(DomainError) as info:
        settlement_withdraw(merchant_id=merchant.id, amount=1, currency="JPY")
    assert info.value.code == "insufficient_funds"

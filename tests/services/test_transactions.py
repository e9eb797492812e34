"""services.transactions: fees from the provider schedule, rollup + outbox in the same DB
transaction, the status machine, and refusals that write nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from paybridge.errors import DomainError
from paybridge.models import Event, HourlyRollup, Provider, Transaction, User
from paybridge.models.transaction import TRANSITIONS, TransactionStatus
from paybridge.selectors.analytics import dashboard_metrics
from paybridge.selectors.periods import period_for_days
from paybridge.selectors.reference import dashboard_metrics_raw
from paybridge.services.providers import provider_fee
from paybridge.services.transactions import transaction_create, transaction_update_status
from tests.conftest import TestDatabase, create_merchant

pytestmark = pytest.mark.timeout(120)

EMAIL = "payer@example.com"


def create(merchant: User, **overrides: object) -> Transaction:
    values: dict[str, object] = {
        "merchant_id": merchant.id,
        "amount": 10_000,
        "currency": "USD",
        "provider": "card",
        "customer_email": EMAIL,
    }
    values.update(overrides)
    return transaction_create(**values)  # type: ignore[arg-type]


def rollups(db: TestDatabase) -> dict[tuple[str, str], tuple[int, int, int, int]]:
    """(status, currency) -> (count, gross, fees, net), summed over hours and providers."""
    totals: dict[tuple[str, str], list[int]] = {}
    with db.session() as session:
        for row in session.exec(select(HourlyRollup)).all():
            acc = totals.setdefault((row.status, row.currency), [0, 0, 0, 0])
            for i, value in enumerate((row.count, row.gross, row.fees, row.net)):
                acc[i] += value
    return {key: tuple(v) for key, v in totals.items() if any(v)}  # type: ignore[misc]


def events(db: TestDatabase) -> list[Event]:
    with db.session() as session:
        return list(session.exec(select(Event).order_by(Event.id)).all())


# --- fees and what one create writes ------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "amount", "fee"),
    [
        ("card", 10_000, 320),  # 2.90 % + 30
        ("mobile_money", 10_000, 150),  # 1.50 %
        ("bank_transfer", 10_000, 75),  # 0.50 % + 25
        ("paystack", 333, 15),  # 1.50 % of 333 = 4.995 -> 5 (half up) + 10
        ("flutterwave", 35, 0),  # 1.40 % of 35 = 0.49 -> 0
        ("card", 20, 20),  # 0.58 + 30 is more than the amount: capped
    ],
)
def test_fee_and_net_follow_the_provider_schedule(
    db: TestDatabase, merchant: User, code: str, amount: int, fee: int
) -> None:
    tx = create(merchant, amount=amount, provider=code)
    assert (tx.fee, tx.net_amount) == (fee, amount - fee)
    with db.session() as session:
        stored = session.exec(select(Transaction)).one()
        provider = session.get(Provider, stored.provider_id)
    assert provider.code == code
    assert (stored.amount, stored.fee, stored.net_amount) == (amount, fee, amount - fee)
    assert provider_fee(provider, amount) == fee


def test_fee_uses_the_configured_schedule_not_the_defaults(
    db: TestDatabase, merchant: User
) -> None:
    with db.session() as session:
        card = session.exec(select(Provider).where(Provider.code == "card")).one()
        card.fee_bps, card.fee_fixed = 1000, 7
        session.add(card)
        session.commit()
    tx = create(merchant, amount=1_000, provider="card")
    assert (tx.fee, tx.net_amount) == (107, 893)


def test_create_writes_transaction_rollup_and_event(db: TestDatabase, merchant: User) -> None:
    moment = datetime(2025, 3, 4, 10, 42, 7, tzinfo=UTC)
    tx = create(
        merchant,
        amount=12_345,
        currency="usd",
        customer_email="  Payer@Example.COM ",
        reference="order-1001",
        status="success",
        created_at=moment,
    )
    assert tx.reference == "order-1001"
    assert tx.currency == "USD"
    assert tx.customer_email == "payer@example.com"
    assert db.counts() == {"transactions": 1, "hourly_rollups": 1, "events": 1, "settlements": 0}

    with db.session() as session:
        stored = session.exec(select(Transaction)).one()
        rollup = session.exec(select(HourlyRollup)).one()
    assert stored.created_at == moment and stored.created_at.tzinfo is not None
    assert rollup.hour == datetime(2025, 3, 4, 10, tzinfo=UTC)
    assert (rollup.merchant_id, rollup.currency, rollup.status) == (merchant.id, "USD", "success")
    assert (rollup.count, rollup.gross, rollup.fees, rollup.net) == (
        1,
        12_345,
        tx.fee,
        tx.net_amount,
    )

    [event] = events(db)
    assert event.merchant_id == merchant.id
    assert event.type == "transaction.created"
    assert event.payload["reference"] == "order-1001"
    assert event.payload["amount"] == 12_345
    assert event.payload["fee"] == tx.fee
    assert event.payload["net_amount"] == tx.net_amount
    assert event.payload["provider"] == "card"
    assert event.payload["status"] == "success"


def test_default_status_is_pending_and_reference_is_generated(
    db: TestDatabase, merchant: User
) -> None:
    first, second = create(merchant), create(merchant)
    assert first.status == second.status == "pending"
    assert first.reference.startswith("txn_") and first.reference != second.reference
    assert rollups(db) == {("pending", "USD"): (2, 20_000, 640, 19_360)}


def test_same_hour_payments_share_one_rollup_bucket(db: TestDatabase, merchant: User) -> None:
    base = datetime(2025, 1, 1, 9, tzinfo=UTC)
    for minute in (0, 30, 59):
        create(merchant, created_at=base + timedelta(minutes=minute), status="success")
    create(merchant, created_at=base + timedelta(hours=1), status="success")
    with db.session() as session:
        buckets = {r.hour: r.count for r in session.exec(select(HourlyRollup)).all()}
    assert buckets == {base: 3, base + timedelta(hours=1): 1}


def test_created_at_in_another_timezone_is_stored_in_its_utc_hour(
    db: TestDatabase, merchant: User
) -> None:
    """An aware created_at in a half-hour zone still lands in the right UTC hour bucket, so a
    later status change moves the payment out of the bucket it was added to."""
    local = datetime(2025, 3, 4, 10, 45, tzinfo=ZoneInfo("Asia/Kolkata"))  # 05:15 UTC
    tx = create(merchant, created_at=local)
    with db.session() as session:
        rollup = session.exec(select(HourlyRollup)).one()
    assert rollup.hour == datetime(2025, 3, 4, 5, tzinfo=UTC)
    transaction_update_status(merchant_id=merchant.id, reference=tx.reference, status="success")
    assert rollups(db) == {("success", "USD"): (1, 10_000, 320, 9_680)}
    with db.session() as session:
        counts = [r.count for r in session.exec(select(HourlyRollup)).all()]
    assert min(counts) >= 0


# --- status changes ------------------------------------------------------------------------


LEGAL = [(old, new) for old, targets in TRANSITIONS.items() for new in sorted(targets)]
ILLEGAL = [
    (old, new)
    for old in TransactionStatus
    for new in TransactionStatus
    if new not in TRANSITIONS[old] and old != TransactionStatus.REFUNDED
]


def reach(merchant: User, status: str) -> Transaction:
    """A payment currently in `status` (refunded is reached through success)."""
    if status == TransactionStatus.REFUNDED:
        tx = create(merchant, status="success")
        return transaction_update_status(
            merchant_id=merchant.id, reference=tx.reference, status="refunded"
        )
    return create(merchant, status=status)


@pytest.mark.parametrize(("old", "new"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
def test_valid_transition_moves_rollup_and_writes_event(
    db: TestDatabase, merchant: User, old: str, new: str
) -> None:
    tx = create(merchant, status=old, amount=5_000, provider="mobile_money")
    assert rollups(db) == {(old, "USD"): (1, 5_000, 75, 4_925)}
    before = db.counts()

    updated = transaction_update_status(merchant_id=merchant.id, reference=tx.reference, status=new)

    assert updated.status == new
    assert updated.updated_at >= updated.created_at
    assert rollups(db) == {(new, "USD"): (1, 5_000, 75, 4_925)}
    after = db.counts()
    assert after["transactions"] == before["transactions"]
    assert after["events"] == before["events"] + 1
    last = events(db)[-1]
    assert last.type == "transaction.updated"
    assert last.payload["status"] == new
    assert last.payload["previous_status"] == old
    assert last.payload["reference"] == tx.reference


def test_refund_after_success_keeps_rollups_exact(db: TestDatabase, merchant: User) -> None:
    a = create(merchant, amount=1_000, status="pending")
    create(merchant, amount=2_000, status="success")
    transaction_update_status(merchant_id=merchant.id, reference=a.reference, status="success")
    transaction_update_status(merchant_id=merchant.id, reference=a.reference, status="refunded")
    assert rollups(db) == {
        ("success", "USD"): (1, 2_000, 88, 1_912),
        ("refunded", "USD"): (1, 1_000, 59, 941),
    }
    assert [e.type for e in events(db)] == [
        "transaction.created",
        "transaction.created",
        "transaction.updated",
        "transaction.updated",
    ]


@pytest.mark.parametrize(("old", "new"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_illegal_transition_is_refused_and_writes_nothing(
    db: TestDatabase, merchant: User, old: str, new: str
) -> None:
    tx = reach(merchant, old)
    before, rollups_before = db.counts(), rollups(db)
    with pytest.raises(DomainError) as info:
        transaction_update_status(merchant_id=merchant.id, reference=tx.reference, status=new)
    assert info.value.code == "invalid_status_transition"
    assert info.value.param == "status"
    assert db.counts() == before
    assert rollups(db) == rollups_before
    with db.session() as session:
        assert session.exec(select(Transaction.status)).one() == old


def test_refunded_is_final(db: TestDatabase, merchant: User) -> None:
    tx = reach(merchant, "refunded")
    for new in TransactionStatus:
        with pytest.raises(DomainError) as info:
            transaction_update_status(merchant_id=merchant.id, reference=tx.reference, status=new)
        assert info.value.code == "invalid_status_transition"


# --- refusals write nothing ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "code", "param"),
    [
        ({"amount": 0}, "invalid_amount", "amount"),
        ({"amount": -100}, "invalid_amount", "amount"),
        ({"amount": 10.0}, "invalid_amount", "amount"),
        ({"amount": 10.5}, "invalid_amount", "amount"),
        ({"amount": True}, "invalid_amount", "amount"),
        ({"amount": "100"}, "invalid_amount", "amount"),
        ({"amount": 10**15 + 1}, "invalid_amount", "amount"),
        ({"currency": "XYZ"}, "invalid_currency", "currency"),
        ({"currency": ""}, "invalid_currency", "currency"),
        ({"currency": None}, "invalid_currency", "currency"),
        ({"provider": "paypal"}, "invalid_provider", "provider"),
        ({"provider": None}, "invalid_provider", "provider"),
        ({"customer_email": "not-an-email"}, "invalid_email", "customer_email"),
        ({"customer_email": "a@b"}, "invalid_email", "customer_email"),
        ({"customer_email": "a b@example.com"}, "invalid_email", "customer_email"),
        ({"customer_email": 42}, "invalid_email", "customer_email"),
        ({"reference": ""}, "invalid_reference", "reference"),
        ({"reference": "has space"}, "invalid_reference", "reference"),
        ({"reference": "x" * 65}, "invalid_reference", "reference"),
        ({"status": "refunded"}, "invalid_status", "status"),
        ({"status": "bogus"}, "invalid_request", "status"),
        ({"created_at": datetime(2025, 1, 1)}, "invalid_request", "created_at"),
    ],
    ids=lambda v: "-".join(f"{k}={v!r}" for k, v in v.items()) if isinstance(v, dict) else None,
)
def test_bad_create_input_is_refused_and_writes_nothing(
    db: TestDatabase, merchant: User, overrides: dict, code: str, param: str
) -> None:
    create(merchant, status="success")  # something already there, so "nothing" is meaningful
    before, rollups_before = db.counts(), rollups(db)
    with pytest.raises(DomainError) as info:
        create(merchant, **overrides)
    assert info.value.code == code
    assert info.value.param == param
    assert info.value.message
    assert db.counts() == before
    assert rollups(db) == rollups_before


def test_inactive_provider_is_refused(db: TestDatabase, merchant: User) -> None:
    from paybridge.services.providers import provider_set_active

    provider_set_active(code="card", active=False)
    with pytest.raises(DomainError) as info:
        create(merchant, provider="card")
    assert info.value.code == "invalid_provider"
    assert db.counts()["transactions"] == 0
    assert create(merchant, provider="stripe").fee == 320


def test_duplicate_reference_is_refused_and_writes_nothing(
    db: TestDatabase, merchant: User
) -> None:
    create(merchant, reference="order-1", status="success", amount=500)
    before, rollups_before = db.counts(), rollups(db)
    with pytest.raises(DomainError) as info:
        create(merchant, reference="order-1", amount=700, currency="JPY")
    assert info.value.code == "duplicate_reference"
    assert info.value.param == "reference"
    assert db.counts() == before
    assert rollups(db) == rollups_before
    with db.session() as session:
        assert session.exec(select(Transaction.amount)).all() == [500]


def test_references_are_unique_per_merchant_only(db: TestDatabase, merchant: User) -> None:
    """Another merchant's reference is no conflict: a refusal would reveal that it exists."""
    other = create_merchant("refs@example.com")
    create(merchant, reference="order-7", amount=500)
    create(other, reference="order-7", amount=900)
    with pytest.raises(DomainError) as info:
        create(other, reference="order-7", amount=100)
    assert info.value.code == "duplicate_reference"
    with db.session() as session:
        assert sorted(session.exec(select(Transaction.amount)).all()) == [500, 900]


@pytest.mark.parametrize(
    ("reference", "status", "code"),
    [
        ("missing-ref", "success", "not_found"),
        ("bad ref!", "success", "invalid_reference"),
        (None, "success", "invalid_reference"),
        ("REAL", "paid", "invalid_request"),
        ("REAL", None, "invalid_request"),
    ],
)
def test_bad_status_update_is_refused_and_writes_nothing(
    db: TestDatabase, merchant: User, reference: object, status: object, code: str
) -> None:
    tx = create(merchant)
    before, rollups_before = db.counts(), rollups(db)
    with pytest.raises(DomainError) as info:
        transaction_update_status(
            merchant_id=merchant.id,
            reference=tx.reference if reference == "REAL" else reference,  # type: ignore[arg-type]
            status=status,  # type: ignore[arg-type]
        )
    assert info.value.code == code
    assert db.counts() == before
    assert rollups(db) == rollups_before


def test_another_merchants_reference_is_not_found(db: TestDatabase, merchant: User) -> None:
    other = create_merchant("other@example.com")
    theirs = create(other, reference="their-order", status="pending")
    before, rollups_before = db.counts(), rollups(db)
    with pytest.raises(DomainError) as info:
        transaction_update_status(
            merchant_id=merchant.id, reference=theirs.reference, status="success"
        )
    assert info.value.code == "not_found"
    assert db.counts() == before
    assert rollups(db) == rollups_before
    with db.session() as session:
        assert session.exec(select(Transaction.status)).one() == "pending"
    # The owner can still move it.
    transaction_update_status(merchant_id=other.id, reference=theirs.reference, status="success")


def test_dashboard_sees_exactly_what_was_written(db: TestDatabase, merchant: User) -> None:
    """A small end-to-end check of rollups against the raw scan after mixed writes."""
    day = datetime(2025, 5, 1, tzinfo=UTC)
    a = create(merchant, amount=1_000, created_at=day + timedelta(hours=1))
    create(merchant, amount=2_000, status="success", created_at=day + timedelta(hours=23))
    create(merchant, amount=3_000, status="failed", created_at=day + timedelta(hours=2))
    create(merchant, amount=999, currency="JPY", status="success", created_at=day)
    transaction_update_status(merchant_id=merchant.id, reference=a.reference, status="success")
    period = period_for_days(day.date(), day.date(), "UTC")
    with db.session() as session:
        fast = dashboard_metrics(
            session=session, merchant_id=merchant.id, currency="USD", period=period
        )
        slow = dashboard_metrics_raw(
            session=session, merchant_id=merchant.id, currency="USD", period=period
        )
    assert fast == slow
    assert fast.current.total_transactions == 3
    assert fast.current.total_volume == 3_000
    assert fast.current.success_rate_bp == 6667
    assert fast.current.average_transaction == 1_500
    assert [(p.day, p.volume, p.count) for p in fast.daily] == [(day.date(), 3_000, 2)]


def test_concurrent_writes_to_one_rollup_bucket_stay_exact(
    db: TestDatabase, merchant: User
) -> None:
    """20 payments in the same hour from 20 threads, then 10 concurrent status changes: the
    bucket upserts must neither lose an update nor fail on the unique bucket key."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    hour = datetime(2025, 7, 1, 14, tzinfo=UTC)
    barrier = threading.Barrier(20)

    def pay(i: int) -> Transaction:
        barrier.wait(timeout=30)
        return create(merchant, amount=1_000 + i, created_at=hour + timedelta(minutes=i))

    with ThreadPoolExecutor(max_workers=20) as pool:
        made = list(pool.map(pay, range(20)))
    gross = sum(tx.amount for tx in made)
    assert rollups(db) == {
        ("pending", "USD"): (20, gross, sum(t.fee for t in made), sum(t.net_amount for t in made))
    }

    settle = threading.Barrier(10)

    def succeed(tx: Transaction) -> Transaction:
        settle.wait(timeout=30)
        return transaction_update_status(
            merchant_id=merchant.id, reference=tx.reference, status="success"
        )

    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(succeed, made[:10]))
    totals = rollups(db)
    assert totals[("pending", "USD")][0] == 10
    assert totals[("success", "USD")][:2] == (10, sum(tx.amount for tx in made[:10]))
    period = period_for_days(hour.date(), hour.date(), "UTC")
    with db.session() as session:
        fast = dashboard_metrics(
            session=session, merchant_id=merchant.id, currency="USD", period=period
        )
        slow = dashboard_metrics_raw(
            session=session, merchant_id=merchant.id, currency="USD", period=period
        )
    assert fast == slow
    assert fast.current.total_transactions == 20
    assert db.count(Event) == 30

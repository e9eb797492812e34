"""services.transactions.transaction_refund: partial and full refunds move the payment, its
rollup bucket, the balances and the outbox together, refuse what they must, and are idempotent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from paybridge.db import read_session, utcnow
from paybridge.errors import DomainError
from paybridge.models import Event, HourlyRollup, Refund, Transaction, User
from paybridge.selectors.balances import balances
from paybridge.services.refunds import refunded_net_share, transaction_refund
from paybridge.services.transactions import transaction_create, transaction_update_status
from tests.conftest import TestDatabase


def pay(merchant: User, amount: int = 10_000, status: str = "success", days_ago: int = 10):
    return transaction_create(
        merchant_id=merchant.id,
        amount=amount,
        currency="USD",
        provider="card",  # 2.90 % + 30
        customer_email="payer@example.com",
        status=status,
        created_at=utcnow() - timedelta(days=days_ago),
    )


def buckets(db: TestDatabase) -> dict[str, tuple[int, ...]]:
    """status -> (count, gross, fees, net, refunded, refunded_net), summed."""
    totals: dict[str, list[int]] = {}
    with db.session() as session:
        for r in session.exec(select(HourlyRollup)).all():
            acc = totals.setdefault(r.status, [0] * 6)
            for i, v in enumerate((r.count, r.gross, r.fees, r.net, r.refunded, r.refunded_net)):
                acc[i] += v
    return {k: tuple(v) for k, v in totals.items() if any(v)}


def balance(merchant: User) -> tuple[int, int]:
    with read_session() as session:
        rows = {b.currency: b for b in balances(session=session, merchant_id=merchant.id)}
    usd = rows.get("USD")
    return (usd.available, usd.pending) if usd else (0, 0)


def test_net_share_rounds_half_up_and_reaches_the_whole_net() -> None:
    assert refunded_net_share(amount=10_000, net_amount=9_680, refunded=0) == 0
    assert refunded_net_share(amount=10_000, net_amount=9_680, refunded=2_500) == 2_420
    assert refunded_net_share(amount=3, net_amount=1, refunded=1) == 0  # 1/3 rounds down
    assert refunded_net_share(amount=4, net_amount=2, refunded=1) == 1  # 1/2 rounds up
    assert refunded_net_share(amount=10_000, net_amount=9_680, refunded=10_000) == 9_680
    big = 10**15
    assert refunded_net_share(amount=big, net_amount=big - 1, refunded=big) == big - 1


def test_partial_refund_moves_payment_rollup_balance_and_event(
    db: TestDatabase, merchant: User
) -> None:
    tx = pay(merchant)  # fee 320, net 9_680, past the 7-day hold
    assert balance(merchant) == (9_680, 0)

    refunded = transaction_refund(merchant_id=merchant.id, reference=tx.reference, amount=2_500)

    assert refunded.status == "success"
    assert (refunded.refunded_amount, refunded.refunded_net) == (2_500, 2_420)
    assert buckets(db) == {"success": (1, 10_000, 320, 9_680, 2_500, 2_420)}
    assert balance(merchant) == (9_680 - 2_420, 0)
    with db.session() as session:
        [refund] = session.exec(select(Refund)).all()
        last = session.exec(select(Event).order_by(Event.id.desc())).first()
    assert (refund.amount, refund.net, refund.transaction_id) == (2_500, 2_420, tx.id)
    assert last.type == "transaction.updated"
    assert last.payload["status"] == "success" and last.payload["previous_status"] == "success"
    assert last.payload["refunded_amount"] == 2_500
    assert last.payload["refund"] == {"amount": 2_500, "net": 2_420, "remaining": 7_500}


def test_partial_refunds_adding_up_end_where_one_full_refund_ends(
    db: TestDatabase, merchant: User
) -> None:
    a, b = pay(merchant, amount=9_999), pay(merchant, amount=9_999)
    for part in (1, 3_333, 3_333, 3_332):
        transaction_refund(merchant_id=merchant.id, reference=a.reference, amount=part)
    transaction_update_status(merchant_id=merchant.id, reference=b.reference, status="refunded")

    with db.session() as session:
        rows = {t.reference: t for t in session.exec(select(Transaction)).all()}
        refunds = session.exec(select(Refund).order_by(Refund.id)).all()
    for ref in (a.reference, b.reference):
        t = rows[ref]
        assert t.status == "refunded"
        assert (t.refunded_amount, t.refunded_net) == (t.amount, t.net_amount)
        assert sum(r.amount for r in refunds if r.transaction_id == t.id) == t.amount
        assert sum(r.net for r in refunds if r.transaction_id == t.id) == t.net_amount
    fee = rows[a.reference].fee
    net = 9_999 - fee
    assert buckets(db) == {"refunded": (2, 19_998, 2 * fee, 2 * net, 19_998, 2 * net)}
    assert balance(merchant) == (0, 0)


def test_update_status_refunded_refunds_what_is_left(db: TestDatabase, merchant: User) -> None:
    tx = pay(merchant, days_ago=1)  # still held: pending balance
    transaction_refund(merchant_id=merchant.id, reference=tx.reference, amount=4_000)
    assert balance(merchant) == (0, 9_680 - 3_872)
    done = transaction_update_status(
        merchant_id=merchant.id, reference=tx.reference, status="refunded"
    )
    assert done.status == "refunded" and done.refunded_amount == 10_000
    with db.session() as session:
        amounts = [r.amount for r in session.exec(select(Refund).order_by(Refund.id)).all()]
        last = session.exec(select(Event).order_by(Event.id.desc())).first()
    assert amounts == [4_000, 6_000]
    assert last.payload["previous_status"] == "success"
    assert last.payload["refund"] == {"amount": 6_000, "net": 9_680 - 3_872, "remaining": 0}
    assert balance(merchant) == (0, 0)


@pytest.mark.parametrize("status", ["pending", "failed", "refunded"])
def test_only_successful_payments_can_be_refunded(
    db: TestDatabase, merchant: User, status: str
) -> None:
    tx = pay(merchant, status="success" if status == "refunded" else status)
    if status == "refunded":
        transaction_update_status(merchant_id=merchant.id, reference=tx.reference, status=status)
    before, rollups_before = db.counts(), buckets(db)
    with pytest.raises(DomainError) as info:
        transaction_refund(merchant_id=merchant.id, reference=tx.reference, amount=100)
    assert info.value.code == "not_refundable"
    assert db.counts() == before and buckets(db) == rollups_before


def test_refund_above_what_is_left_is_refused_and_writes_nothing(
    db: TestDatabase, merchant: User
) -> None:
    tx = pay(merchant)
    transaction_refund(merchant_id=merchant.id, reference=tx.reference, amount=9_000)
    before, rollups_before = db.counts(), buckets(db)
    with pytest.raises(DomainError) as info:
        transaction_refund(merchant_id=merchant.id, reference=tx.reference, amount=1_001)
    assert (info.value.code, info.value.param) == ("refund_exceeds_remaining", "amount")
    assert "$10.00" in info.value.message
    assert db.counts() == before and buckets(db) == rollups_before


@pytest.mark.parametrize("amount", [0, -5, 10.0, "100", True, 10**15 + 1])
def test_bad_amounts_are_refused(db: TestDatabase, merchant: User, amount: object) -> None:
    tx = pay(merchant)
    with pytest.raises(DomainError) as info:
        transaction_refund(merchant_id=merchant.id, reference=tx.reference, amount=amount)  # type: ignore[arg-type]
    assert info.value.code == "invalid_amount"
    assert buckets(db)["success"][4] == 0


def test_no_amount_refunds_what_is_left(db: TestDatabase, merchant: User) -> None:
    tx = pay(merchant)
    transaction_refund(merchant_id=merchant.id, reference=tx.reference, amount=4_000)
    rest = transaction_refund(merchant_id=merchant.id, reference=tx.reference)
    assert (rest.status, rest.refunded_amount, rest.refunded_net) == ("refunded", 10_000, 9_680)
    with read_session() as session:
        amounts = session.exec(select(Refund.amount).order_by(Refund.id)).all()
    assert amounts == [4_000, 6_000]


def test_a_refund_of_released_money_needs_the_available_balance(
    db: TestDatabase, merchant: User
) -> None:
    """The available balance never goes below zero: once it has been paid out, a payment past
    its hold cannot be refunded until new money is released; a held payment still can."""
    from paybridge.services.settlements import settlement_withdraw

    old = pay(merchant)  # net 9,680, released
    held = pay(merchant, days_ago=1)  # net 9,680, still held
    settlement_withdraw(merchant_id=merchant.id, amount=9_000, currency="USD")
    assert balance(merchant) == (680, 9_680)
    before = db.counts()
    with pytest.raises(DomainError) as info:
        transaction_refund(merchant_id=merchant.id, reference=old.reference, amount=1_000)
    assert (info.value.code, info.value.param) == ("insufficient_funds", "amount")
    assert "$9.68" in info.value.message and "$6.80" in info.value.message
    assert db.counts() == before and balance(merchant) == (680, 9_680)
    with pytest.raises(DomainError) as info:  # a full refund through the status too
        transaction_update_status(
            merchant_id=merchant.id, reference=old.reference, status="refunded"
        )
    assert info.value.code == "insufficient_funds"

    transaction_refund(merchant_id=merchant.id, reference=old.reference, amount=700)  # 678 net
    assert balance(merchant) == (2, 9_680)
    transaction_refund(merchant_id=merchant.id, reference=held.reference)
    assert balance(merchant) == (2, 0)


def test_another_merchants_payment_is_not_found(db: TestDatabase, merchant: User) -> None:
    from tests.conftest import create_merchant

    other = create_merchant("other@example.com")
    tx = pay(other)
    for reference in (tx.reference, "no-such-ref"):
        with pytest.raises(DomainError) as info:
            transaction_refund(merchant_id=merchant.id, reference=reference, amount=100)
        assert info.value.code == "not_found"
    with pytest.raises(DomainError) as info:
        transaction_refund(merchant_id=merchant.id, reference="bad ref!", amount=100)
    assert info.value.code == "invalid_reference"


def test_an_idempotency_key_refunds_once(db: TestDatabase, merchant: User) -> None:
    tx, other = pay(merchant), pay(merchant)
    first = transaction_refund(
        merchant_id=merchant.id, reference=tx.reference, amount=1_000, idempotency_key="k-1"
    )
    again = transaction_refund(
        merchant_id=merchant.id, reference=tx.reference, amount=1_000, idempotency_key="k-1"
    )
    assert first.refunded_amount == again.refunded_amount == 1_000
    assert db.count(Refund) == 1
    events_before = db.count(Event)
    for reference, amount in ((tx.reference, 2_000), (other.reference, 1_000)):
        with pytest.raises(DomainError) as info:
            transaction_refund(
                merchant_id=merchant.id, reference=reference, amount=amount, idempotency_key="k-1"
            )
        assert info.value.code == "idempotency_key_reused"
    assert db.count(Refund) == 1 and db.count(Event) == events_before
    # A key is the merchant's own: another merchant may use the same text.
    from tests.conftest import create_merchant

    someone = create_merchant("someone@example.com")
    theirs = pay(someone)
    transaction_refund(
        merchant_id=someone.id, reference=theirs.reference, amount=500, idempotency_key="k-1"
    )
    assert db.count(Refund) == 2

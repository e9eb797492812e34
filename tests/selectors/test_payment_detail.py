"""selectors.payment_detail: one payment with its fee schedule, refunds, the timeline of its
own events (found through the payload reference index) and their webhook deliveries."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from paybridge.db import read_session, utcnow
from paybridge.models import Provider, User, WebhookDelivery
from paybridge.selectors.payment_detail import payment_detail
from paybridge.services.refunds import transaction_refund
from paybridge.services.settlements import settlement_withdraw
from paybridge.services.transactions import transaction_create, transaction_update_status
from paybridge.services.webhooks import webhook_create
from tests.conftest import TestDatabase, create_merchant


def test_detail_has_timeline_refunds_and_deliveries(db: TestDatabase, merchant: User) -> None:
    tx = transaction_create(
        merchant_id=merchant.id,
        amount=10_000,
        currency="USD",
        provider="card",
        customer_email="payer@example.com",
        created_at=utcnow() - timedelta(days=9),
    )
    other = transaction_create(
        merchant_id=merchant.id,
        amount=500,
        currency="USD",
        provider="card",
        customer_email="else@example.com",
        status="success",
    )
    transaction_update_status(merchant_id=merchant.id, reference=tx.reference, status="success")
    transaction_refund(merchant_id=merchant.id, reference=tx.reference, amount=2_500)
    settlement_withdraw(merchant_id=merchant.id, amount=100, currency="USD")  # another reference
    hook, _ = webhook_create(
        merchant_id=merchant.id, url="https://example.com/hook", event_types=["transaction.updated"]
    )
    with read_session() as session:
        first = payment_detail(session=session, merchant_id=merchant.id, reference=tx.reference)
    assert first is not None
    with db.session() as session:
        session.add(
            WebhookDelivery(
                merchant_id=merchant.id,
                webhook_id=hook.id,
                event_id=first.events[-1].id,
                event_type="transaction.updated",
                status="succeeded",
                attempt_count=1,
                last_status_code=200,
                retry_until=utcnow() + timedelta(days=1),
            )
        )
        session.commit()

    with read_session() as session:
        detail = payment_detail(session=session, merchant_id=merchant.id, reference=tx.reference)
    assert detail is not None
    assert detail.payment.reference == tx.reference and detail.payment.refunded_amount == 2_500
    assert (detail.fee_bps, detail.fee_fixed, detail.refunded_net) == (290, 30, 2_420)
    assert detail.refundable == 7_500
    # the numbers the payment page shows: fee 2.90 % + 30 of 10,000 -> 320, net 9,680
    assert (detail.remaining, detail.kept) == (7_500, 9_680 - 2_420)
    assert (detail.percent_fee, detail.fee_matches_schedule) == (290, True)
    assert [e.type for e in detail.events] == [
        "transaction.created",
        "transaction.updated",
        "transaction.updated",
    ]
    assert detail.events[-1].payload["refund"]["amount"] == 2_500
    assert all(e.payload["reference"] == tx.reference for e in detail.events)
    assert [(r.amount, r.net) for r in detail.refunds] == [(2_500, 2_420)]
    [delivery] = detail.deliveries
    assert (delivery.url, delivery.status, delivery.last_status_code) == (
        "https://example.com/hook",
        "succeeded",
        200,
    )
    with read_session() as session:
        plain = payment_detail(session=session, merchant_id=merchant.id, reference=other.reference)
    assert plain is not None and len(plain.events) == 1 and plain.deliveries == []


def test_a_changed_fee_schedule_is_noticed(db: TestDatabase, merchant: User) -> None:
    """The fee was fixed at creation; the percentage shown is today's schedule, and when the two
    no longer add up to the fee charged the detail says so."""
    tx = transaction_create(
        merchant_id=merchant.id,
        amount=3,
        currency="USD",
        provider="card",
        customer_email="payer@example.com",
        status="success",
    )
    with db.session() as session:
        card = session.exec(select(Provider).where(Provider.code == "card")).one()
        card.fee_bps = 20_000  # 200 %: the percentage part is capped at the amount
        session.add(card)
        session.commit()
    with read_session() as session:
        detail = payment_detail(session=session, merchant_id=merchant.id, reference=tx.reference)
    assert detail is not None
    assert (detail.percent_fee, detail.fee_matches_schedule) == (3, False)
    assert (detail.remaining, detail.kept) == (3, detail.payment.net_amount)


def test_another_merchants_payment_has_no_detail(db: TestDatabase, merchant: User) -> None:
    someone = create_merchant("someone@example.com")
    tx = transaction_create(
        merchant_id=someone.id,
        amount=100,
        currency="USD",
        provider="card",
        customer_email="payer@example.com",
    )
    with read_session() as session:
        assert (
            payment_detail(session=session, merchant_id=merchant.id, reference=tx.reference) is None
        )
        assert payment_detail(session=session, merchant_id=merchant.id, reference="nope") is None

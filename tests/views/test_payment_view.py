"""views.payment: the payment page from the selector's PaymentDetail. Each value is one of the
selector's numbers, formatted: the kept and refundable amounts are PaymentDetail's."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from paybridge.db import read_session
from paybridge.models import User
from paybridge.selectors.payment_detail import payment_detail
from paybridge.services.refunds import transaction_refund
from paybridge.services.transactions import transaction_create, transaction_update_status
from paybridge.views.payment import FeeLine, PaymentSummary, payment_view, refund_question
from tests.conftest import TestDatabase


def test_the_page_shows_the_selectors_numbers(db: TestDatabase, merchant: User) -> None:
    tx = transaction_create(
        merchant_id=merchant.id,
        amount=10_000,
        currency="USD",
        provider="card",  # 2.90 % + 0.30
        customer_email="payer@example.com",
    )
    transaction_update_status(merchant_id=merchant.id, reference=tx.reference, status="success")
    transaction_refund(merchant_id=merchant.id, reference=tx.reference, amount=2_500)
    with read_session() as session:
        detail = payment_detail(session=session, merchant_id=merchant.id, reference=tx.reference)
    assert detail is not None
    view = payment_view(detail, "UTC")

    def stamp(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%b %d, %H:%M:%S") + " (UTC)"

    assert view.summary == PaymentSummary(
        reference=tx.reference,
        status="success",
        amount="$100.00",
        currency="USD",
        net="$96.80",
        refunded="$25.00",
        remaining="$75.00",  # PaymentDetail.remaining
        kept="$72.60",  # PaymentDetail.kept: 96.80 less the refund's 24.20 share
        provider="Card (card)",
        customer="payer@example.com",
        created=stamp(detail.payment.created_at),
        updated=stamp(detail.payment.updated_at),
    )
    assert view.fees == [
        FeeLine(label="2.90% of $100.00", value="$2.90"),
        FeeLine(label="Fixed fee", value="$0.30"),
        FeeLine(label="Fee charged", value="$3.20"),
    ]
    assert [line.text for line in view.timeline] == [
        "Created as pending",
        "Status pending → success",
        "Partially refunded: $25.00 ($24.20 off the balance)",
    ]
    assert [(r.amount, r.net) for r in view.refunds] == [("$25.00", "$24.20")]
    assert view.deliveries == []
    assert (view.refundable, view.refund_default) == (True, "75.00")

    changed = replace(detail, fee_bps=300)  # the provider's schedule changed since
    assert payment_view(changed, "UTC").fees[-1] == FeeLine(
        label="The provider's schedule changed after this payment", value=""
    )


def test_the_refund_question_says_whether_it_is_all_that_is_left() -> None:
    assert refund_question(7_500, 7_500, "USD", "payer@example.com") == (
        "Refund $75.00 to payer@example.com — the whole remaining amount? This cannot be undone."
    )
    assert refund_question(100, 7_500, "USD", "payer@example.com") == (
        "Refund $1.00 to payer@example.com — a partial refund? This cannot be undone."
    )

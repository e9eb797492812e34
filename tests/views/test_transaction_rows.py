"""views.transactions: the /transactions rows from the selector's TransactionRecord, and the
status and refund a payment's event changes in a visible row (as services write the event)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sqlmodel import col, select

from paybridge.db import read_session
from paybridge.models import Event, TransactionRecord, User
from paybridge.models.event import payload_reference
from paybridge.selectors.transactions import transaction_get
from paybridge.services.refunds import transaction_refund
from paybridge.services.transactions import transaction_create
from paybridge.views.transactions import (
    TransactionListRow,
    new_label,
    rows_with_events,
    total_label,
    transaction_list_row,
)
from tests.conftest import TestDatabase

RECORD = TransactionRecord(
    reference="pay_1",
    amount=12_345,
    currency="USD",
    status="success",
    provider_code="card",
    provider_name="Card",
    customer_email="buyer@example.com",
    fee=400,
    net_amount=11_945,
    created_at=datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC),
    updated_at=datetime(2026, 3, 1, 12, 31, tzinfo=UTC),
    refunded_amount=2_000,
)


def test_a_row_names_each_value_of_its_record() -> None:
    assert transaction_list_row(RECORD, "Africa/Lagos") == TransactionListRow(
        reference="pay_1",
        href="/transactions/pay_1",
        customer="buyer@example.com",
        amount="$123.45",
        refunded="$20.00 refunded",
        provider="Card",
        status="success",
        created="Mar 01, 13:30:05",
    )


def test_only_a_partly_refunded_payment_shows_its_refund() -> None:
    assert transaction_list_row(replace(RECORD, refunded_amount=0), "UTC").refunded == ""
    whole = replace(RECORD, status="refunded", refunded_amount=12_345)
    assert transaction_list_row(whole, "UTC").refunded == ""


def test_counts_above_the_list() -> None:
    assert (total_label(1), total_label(1_234)) == ("1 payment", "1,234 payments")
    assert (new_label(0, 1_000), new_label(1, 1_000)) == ("", "1 new payment")
    assert new_label(1_000, 1_000) == "1,000+ new payments"


def test_an_event_changes_its_visible_row_in_place(db: TestDatabase, merchant: User) -> None:
    made = [
        transaction_create(
            merchant_id=merchant.id,
            amount=amount,
            currency="USD",
            provider="card",
            customer_email="buyer@example.com",
            status="success",
        )
        for amount in (5_000, 7_000)
    ]
    with read_session() as session:
        records = [
            transaction_get(session=session, merchant_id=merchant.id, reference=tx.reference)
            for tx in made
        ]
    rows = [transaction_list_row(r, "UTC") for r in records if r is not None]
    assert rows_with_events(rows, []) is None

    transaction_refund(merchant_id=merchant.id, reference=made[0].reference, amount=1_000)
    with read_session() as session:
        event = session.exec(
            select(Event)
            .where(payload_reference() == made[0].reference)
            .order_by(col(Event.id).desc())
        ).first()
    assert event is not None and event.type == "transaction.updated"
    message = {"id": event.id, "type": event.type, "payload": dict(event.payload)}

    changed = rows_with_events(rows, [message])
    assert changed is not None
    assert (changed[0].status, changed[0].refunded) == ("success", "$10.00 refunded")
    assert changed[1] == rows[1]
    assert changed[0] == replace(rows[0], refunded="$10.00 refunded")
    assert rows_with_events(changed, [message]) is None  # already shown: nothing to send

    # A payload without its currency changes a row only where no amount needs formatting.
    for status, refunded, after in (
        ("refunded", 7_000, [rows[0], replace(rows[1], status="refunded")]),
        ("success", 1_000, None),
    ):
        data = {"reference": made[1].reference, "status": status, "refunded_amount": refunded}
        message = {"id": 1, "type": "transaction.updated", "payload": data}
        assert rows_with_events(rows, [message]) == after

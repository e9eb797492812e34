"""Payments: record them (one or many at once), move them through their statuses (refunds are in
`services.refunds`). Each call writes the payments, their rollups and their outbox events in one
DB transaction, then publishes the events."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, cached_property
from typing import ClassVar, TypedDict

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlmodel import Session

from paybridge.db import driver_rows, retry_on_contention, utcnow, write_session
from paybridge.errors import DomainError
from paybridge.events import EventType, commit_and_publish, record_event
from paybridge.events.outbox import publish_after_commit, record_events
from paybridge.events.payloads import transaction_payload
from paybridge.ids import HashedCounter
from paybridge.logs import current_request_id
from paybridge.models import Provider, Transaction, TransactionRecord, TransactionStatus
from paybridge.models.tables import ArrayInsert, table_of
from paybridge.models.transaction import CREATABLE_STATUSES, TRANSITIONS
from paybridge.money import normalize_currency, validate_minor_units
from paybridge.permissions import Action, Actor, authorize
from paybridge.services.locks import lock_merchant_balance, lock_payment
from paybridge.services.providers import Route, provider_fee, route_for

# transaction_refund is re-exported: the payment page's state imports it from here.
from paybridge.services.refunds import refund_apply
from paybridge.services.refunds import transaction_refund as transaction_refund
from paybridge.services.rollups import rollup_apply, rollup_snapshot
from paybridge.validation import clean_choice, clean_email, clean_reference

# Made in the payment writer's thread, one a payment: HashedCounter, not a getrandom() call.
_references = HashedCounter(12)


def new_reference() -> str:
    return f"txn_{_references.next()}"


@dataclass(frozen=True)
class NewPayment:
    """A payment checked and priced, ready to record (see `new_payment`)."""

    merchant_id: int
    reference: str
    amount: int
    currency: str
    route: Route
    customer_email: str
    status: str
    created_at: datetime
    request_id: str | None = None  # the API request it came from, kept on its event

    # What the rollups read of it (`Rolled`), besides the fields above: a new payment has no
    # refunds yet.
    refunded_amount: ClassVar[int] = 0
    refunded_net: ClassVar[int] = 0

    @property
    def fee(self) -> int:
        return self.record.fee

    @property
    def net_amount(self) -> int:
        return self.record.net_amount

    @property
    def provider_id(self) -> int:
        return self.route.id

    @cached_property
    def record(self) -> TransactionRecord:
        """The payment as `transactions_record` writes it, as every interface reads it (its
        event, the API's 201): built once from these fields, where reading them back from the
        written `Transaction` twice cost ~20 µs a payment in the writer's thread."""
        fee = provider_fee(self.route, self.amount)
        return TransactionRecord(
            reference=self.reference,
            amount=self.amount,
            currency=self.currency,
            status=self.status,
            provider_code=self.route.code,
            provider_name=self.route.display_name,
            customer_email=self.customer_email,
            fee=fee,
            net_amount=self.amount - fee,
            refunded_amount=self.refunded_amount,
            created_at=self.created_at,
            updated_at=self.created_at,
        )


def new_payment(
    *,
    merchant_id: int,
    amount: object,
    currency: object,
    provider: object,
    customer_email: object,
    reference: object | None = None,
    status: object = TransactionStatus.PENDING.value,
    created_at: datetime | None = None,
    request_id: str | None = None,
    actor: Actor | None = None,
) -> NewPayment:
    """Check a payment to be recorded (raises DomainError, queries nothing in the common case:
    the provider comes from the process's copy of the routes). `request_id` is the API request
    it came from (default: the one being served in this context)."""
    authorize(actor, Action.PAYMENT_CREATE, merchant_id=merchant_id)
    amount = validate_minor_units(amount)
    currency = normalize_currency(currency)
    customer_email = clean_email(customer_email, param="customer_email")
    reference = new_reference() if reference is None else clean_reference(reference)
    if status not in CREATABLE_STATUSES:
        clean_choice(status, TransactionStatus, param="status")
        raise DomainError(
            "invalid_status", "A payment starts as pending, success or failed.", param="status"
        )
    if created_at is not None and created_at.tzinfo is None:
        raise DomainError(
            "invalid_request", "created_at must be timezone-aware.", param="created_at"
        )
    route = route_for(provider)
    if route is None or not route.is_active:
        raise DomainError(
            "invalid_provider", f"Unknown or inactive provider: {provider!r}.", param="provider"
        )
    return NewPayment(
        merchant_id=merchant_id,
        reference=reference,
        amount=amount,
        currency=currency,
        route=route,
        customer_email=customer_email,
        status=str(status),
        created_at=(created_at or utcnow()).astimezone(UTC),
        request_id=request_id or current_request_id(),
    )


class _PaymentRow(TypedDict):
    """A `transactions` row as `transactions_record` inserts it (every column but the id)."""

    merchant_id: int
    reference: str
    amount: int
    currency: str
    status: str
    provider_id: int
    customer_email: str
    fee: int
    net_amount: int
    refunded_amount: int
    refunded_net: int
    created_at: datetime
    updated_at: datetime


@retry_on_contention
def transactions_record(payments: Sequence[NewPayment]) -> list[int | DomainError]:
    """Record payments in ONE database transaction: one INSERT of all of them, their rollup
    deltas summed per bucket (one upsert), one INSERT of their `transaction.created` events, one
    commit; the events go on the bus after it. Returns, per payment, its new row's id, or a
    `duplicate_reference` DomainError for one whose reference the merchant has used (the
    others are recorded all the same). Many payments cost little more than one.

    The payments themselves are what the rollups and events read: no `Transaction` is made
    (even `model_construct`, without validation, cost ~10 µs a payment in the writer)."""
    if not payments:
        return []
    rows = [_row_of(payment) for payment in payments]
    with write_session() as session:
        inserted = {
            (merchant_id, reference): id_
            for id_, merchant_id, reference in _insert_payments(session, rows)
        }
        ids = [inserted.pop((payment.merchant_id, payment.reference), None) for payment in payments]
        results: list[int | DomainError] = [
            _duplicate_reference() if id_ is None else id_ for id_ in ids
        ]
        made = [p for p, id_ in zip(payments, results, strict=True) if isinstance(id_, int)]
        rollup_apply(session, [(p, p.status, +1) for p in made])
        messages = record_events(
            session,
            [
                (p.merchant_id, EventType.TRANSACTION_CREATED,
                 transaction_payload(p.record), p.request_id)
                for p in made
            ],
        )  # fmt: skip
        session.commit()
        publish_after_commit(messages)
    return results


def transaction_create(
    *,
    merchant_id: int,
    amount: int,
    currency: str,
    provider: str,
    customer_email: str,
    reference: str | None = None,
    status: str = TransactionStatus.PENDING.value,
    created_at: datetime | None = None,
) -> Transaction:
    """Record one payment. `amount` is in minor units; fee and net come from the provider."""
    payment = new_payment(
        merchant_id=merchant_id,
        amount=amount,
        currency=currency,
        provider=provider,
        customer_email=customer_email,
        reference=reference,
        status=status,
        created_at=created_at,
    )
    recorded = transactions_record([payment])[0]
    if isinstance(recorded, DomainError):
        raise recorded
    # model_construct: the row as written, without a validating __init__.
    return Transaction.model_construct(id=recorded, **_row_of(payment))


def _row_of(payment: NewPayment) -> _PaymentRow:
    """The payment's `transactions` row, from its record: the numbers its event and 201 show."""
    record = payment.record
    return {
        "merchant_id": payment.merchant_id,
        "reference": record.reference,
        "amount": record.amount,
        "currency": record.currency,
        "status": record.status,
        "provider_id": payment.provider_id,
        "customer_email": record.customer_email,
        "fee": record.fee,
        "net_amount": record.net_amount,
        "refunded_amount": payment.refunded_amount,
        "refunded_net": payment.refunded_net,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def _insert_payments(session: Session, rows: list[_PaymentRow]) -> Iterable[tuple[int, int, str]]:
    """INSERT ... ON CONFLICT (merchant, reference) DO NOTHING RETURNING id, merchant, reference:
    a reused reference is skipped (and reported), not a failure of the whole batch."""
    if session.get_bind().dialect.name == "postgresql":
        return driver_rows(session, _ARRAY_INSERT.statement, _ARRAY_INSERT.params(rows))
    return session.execute(_sqlite_insert(), rows).tuples()


_CONFLICT = "ON CONFLICT (merchant_id, reference) DO NOTHING"
_ARRAY_INSERT = ArrayInsert(
    table_of(Transaction),
    list(_PaymentRow.__annotations__),
    f"{_CONFLICT} RETURNING id, merchant_id, reference",
)


@cache
def _sqlite_insert() -> sa.Insert:
    table = table_of(Transaction)
    return (
        sqlite.insert(table)
        .on_conflict_do_nothing(index_elements=["merchant_id", "reference"])
        .returning(table.c.id, table.c.merchant_id, table.c.reference)
    )


def _duplicate_reference() -> DomainError:
    return DomainError(
        "duplicate_reference", "A payment with this reference exists.", param="reference"
    )


@retry_on_contention
def transaction_update_status(*, merchant_id: int, reference: str, status: str) -> Transaction:
    """Move a payment along pending -> success|failed, success -> refunded. Becoming refunded
    refunds whatever is left of it, exactly as `transaction_refund` of that amount would."""
    reference = clean_reference(reference)
    new_status = clean_choice(status, TransactionStatus, param="status")
    with write_session() as session:
        merchant = (
            lock_merchant_balance(session, merchant_id)
            if new_status == TransactionStatus.REFUNDED
            else None
        )
        tx = lock_payment(session, merchant_id, reference)
        if new_status not in TRANSITIONS[tx.status]:
            raise DomainError(
                "invalid_status_transition",
                f"A {tx.status} payment cannot become {new_status}.",
                param="status",
            )
        if merchant is not None:
            event = refund_apply(
                session, merchant, tx, tx.amount - tx.refunded_amount, idempotency_key=None
            )
            commit_and_publish(session, [event])
            return tx
        previous, before = tx.status, rollup_snapshot(tx)
        tx.status = new_status
        tx.updated_at = utcnow()
        session.add(tx)
        rollup_apply(session, [(before, previous, -1), (tx, new_status, +1)])
        record = TransactionRecord.with_provider(tx, session.get_one(Provider, tx.provider_id))
        event = record_event(
            session,
            merchant_id=merchant_id,
            type=EventType.TRANSACTION_UPDATED,
            payload={**transaction_payload(record), "previous_status": previous},
        )
        commit_and_publish(session, [event])
        return tx

"""Payments: record them (one or many at once), move them through their statuses, refund them
in full or in part. Each call writes the payments, their rollups and their outbox events in one
DB transaction, then publishes the events."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from paybridge.db import retry_on_contention, utcnow, write_session
from paybridge.errors import DomainError
from paybridge.events import EventType, commit_and_publish, record_event
from paybridge.events.outbox import publish_after_commit, record_events
from paybridge.logs import current_request_id
from paybridge.models import Event, Provider, Refund, Transaction, TransactionStatus, User
from paybridge.models.transaction import TRANSITIONS
from paybridge.money import format_money, normalize_currency, validate_minor_units
from paybridge.selectors.balances import available_balance, hold_days_for
from paybridge.services.locks import lock_merchant_balance, row_lock
from paybridge.services.providers import Route, provider_fee, route_for
from paybridge.services.rollups import rollup_apply, rollup_snapshot
from paybridge.validation import (
    clean_choice,
    clean_email,
    clean_idempotency_key,
    clean_reference,
)

CREATABLE_STATUSES = (
    TransactionStatus.PENDING,
    TransactionStatus.SUCCESS,
    TransactionStatus.FAILED,
)


def new_reference() -> str:
    return f"txn_{secrets.token_hex(12)}"


def transaction_payload(tx: Transaction, provider_code: str) -> dict[str, Any]:
    """The event/webhook representation of a payment (amounts in minor units)."""
    return {
        "reference": tx.reference,
        "amount": tx.amount,
        "currency": tx.currency,
        "status": tx.status,
        "provider": provider_code,
        "customer_email": tx.customer_email,
        "fee": tx.fee,
        "net_amount": tx.net_amount,
        "refunded_amount": tx.refunded_amount,
        "created_at": tx.created_at.isoformat(),
        "updated_at": tx.updated_at.isoformat(),
    }


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

    @property
    def fee(self) -> int:
        return provider_fee(self.route, self.amount)


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
) -> NewPayment:
    """Check a payment to be recorded (raises DomainError, queries nothing in the common case:
    the provider comes from the process's copy of the routes). `request_id` is the API request
    it came from (default: the one being served in this context)."""
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


@retry_on_contention
def transactions_record(payments: Sequence[NewPayment]) -> list[Transaction | DomainError]:
    """Record payments in ONE database transaction: one INSERT of all of them, their rollup
    deltas summed per bucket (one upsert), one INSERT of their `transaction.created` events, one
    commit; the events go on the bus after it. Returns, per payment, the recorded Transaction,
    or a `duplicate_reference` DomainError for one whose reference the merchant has used (the
    others are recorded all the same). Many payments cost little more than one."""
    if not payments:
        return []
    rows = [
        {
            "merchant_id": p.merchant_id,
            "reference": p.reference,
            "amount": p.amount,
            "currency": p.currency,
            "status": p.status,
            "provider_id": p.route.id,
            "customer_email": p.customer_email,
            "fee": p.fee,
            "net_amount": p.amount - p.fee,
            "refunded_amount": 0,
            "refunded_net": 0,
            "created_at": p.created_at,
            "updated_at": p.created_at,
        }
        for p in payments
    ]
    with write_session() as session:
        inserted = {
            (merchant_id, reference): id_
            for id_, merchant_id, reference in session.execute(_insert_payments(session), rows)
        }
        results: list[Transaction | DomainError] = []
        for payment, row in zip(payments, rows, strict=True):
            id_ = inserted.pop((payment.merchant_id, payment.reference), None)
            # model_construct: the row as written, without a validating __init__ per payment
            # (ten times dearer); the objects are read, never added to a session.
            results.append(
                _duplicate_reference()
                if id_ is None
                else Transaction.model_construct(id=id_, **row)
            )
        made = [
            (tx, p) for tx, p in zip(results, payments, strict=True) if isinstance(tx, Transaction)
        ]
        rollup_apply(session, [(tx, tx.status, +1) for tx, _ in made])
        messages = record_events(
            session,
            [
                (tx.merchant_id, EventType.TRANSACTION_CREATED,
                 transaction_payload(tx, p.route.code), p.request_id)
                for tx, p in made
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
    return recorded


def _insert_payments(session: Session) -> sa.Insert:
    """INSERT ... ON CONFLICT (merchant, reference) DO NOTHING RETURNING id, merchant, reference:
    a reused reference is skipped (and reported), not a failure of the whole batch."""
    dialect = session.get_bind().dialect.name
    statement = _INSERTS.get(dialect)
    if statement is None:
        table = Transaction.__table__
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(table)
            .on_conflict_do_nothing(index_elements=["merchant_id", "reference"])
            .returning(table.c.id, table.c.merchant_id, table.c.reference)
        )
        _INSERTS[dialect] = statement
    return statement


_INSERTS: dict[str, sa.Insert] = {}


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
        tx = _locked(session, merchant_id, reference)
        if new_status not in TRANSITIONS[tx.status]:
            raise DomainError(
                "invalid_status_transition",
                f"A {tx.status} payment cannot become {new_status}.",
                param="status",
            )
        if merchant is not None:
            event = _refund(
                session, merchant, tx, tx.amount - tx.refunded_amount, idempotency_key=None
            )
            commit_and_publish(session, [event])
            return tx
        previous, before = tx.status, rollup_snapshot(tx)
        tx.status = new_status
        tx.updated_at = utcnow()
        session.add(tx)
        rollup_apply(session, [(before, previous, -1), (tx, new_status, +1)])
        provider_code = session.get(Provider, tx.provider_id).code
        event = record_event(
            session,
            merchant_id=merchant_id,
            type=EventType.TRANSACTION_UPDATED,
            payload={**transaction_payload(tx, provider_code), "previous_status": previous},
        )
        commit_and_publish(session, [event])
        return tx


def refunded_net_share(*, amount: int, net_amount: int, refunded: int) -> int:
    """The part of a payment's net that `refunded` minor units (all refunds so far) take back:
    net_amount * refunded / amount, rounded half up — so all of it once fully refunded, and
    successive partial refunds add up to exactly what one refund of their sum would take."""
    return (2 * net_amount * refunded + amount) // (2 * amount)


@retry_on_contention
def transaction_refund(
    *,
    merchant_id: int,
    reference: str,
    amount: int | None = None,
    idempotency_key: str | None = None,
) -> Transaction:
    """Give back `amount` minor units of a successful payment (None: all that is left).

    In one DB transaction (the merchant's balance lock, then the payment row): the payment's
    refunded totals grow, it becomes `refunded` once nothing is left (until then it stays
    `success`), its rollup bucket follows, a refund row and a `transaction.updated` event
    (payload `refund`: amount, net, remaining) are written. Balances drop by the refund's share
    of the net, the dashboard volume by its amount; a refund of released money must be covered
    by the available balance (`insufficient_funds`). The same idempotency key returns the
    payment without refunding again; reusing it for another payment or amount is refused.
    """
    reference = clean_reference(reference)
    amount = validate_minor_units(amount) if amount is not None else None
    key = clean_idempotency_key(idempotency_key) if idempotency_key is not None else None
    with write_session() as session:
        merchant = lock_merchant_balance(session, merchant_id)
        tx = _locked(session, merchant_id, reference)
        if key is not None and _replayed(session, merchant_id, key, tx, amount):
            return tx
        if tx.status == TransactionStatus.REFUNDED:
            raise DomainError(
                "not_refundable", "This payment has been refunded in full.", param="reference"
            )
        if tx.status != TransactionStatus.SUCCESS:
            raise DomainError(
                "not_refundable",
                f"Only successful payments can be refunded; this one is {tx.status}.",
                param="reference",
            )
        remaining = tx.amount - tx.refunded_amount
        amount = remaining if amount is None else amount
        if amount > remaining:
            raise DomainError(
                "refund_exceeds_remaining",
                f"At most {format_money(remaining, tx.currency)} of this payment can be refunded.",
                param="amount",
            )
        event = _refund(session, merchant, tx, amount, idempotency_key=key)
        try:
            session.flush()
        except IntegrityError:  # a concurrent refund of another payment took the same key
            session.rollback()
            raise _key_conflict() from None
        commit_and_publish(session, [event])
        return tx


def _refund(
    session: Session,
    merchant: User,
    tx: Transaction,
    amount: int,
    *,
    idempotency_key: str | None,
) -> Event:
    """Apply a refund to the locked payment `tx` in the caller's transaction (which holds the
    merchant's balance lock); return its event."""
    previous_status, previous_net = tx.status, tx.refunded_net
    refunded_net = refunded_net_share(
        amount=tx.amount, net_amount=tx.net_amount, refunded=tx.refunded_amount + amount
    )
    _require_covered(session, merchant, tx, refunded_net - previous_net)
    before = rollup_snapshot(tx)
    tx.refunded_amount += amount
    tx.refunded_net = refunded_net
    if tx.refunded_amount == tx.amount:
        tx.status = TransactionStatus.REFUNDED.value
    tx.updated_at = utcnow()
    session.add(tx)
    rollup_apply(session, [(before, previous_status, -1), (tx, tx.status, +1)])
    refund = Refund(
        merchant_id=tx.merchant_id,
        transaction_id=tx.id,
        amount=amount,
        net=tx.refunded_net - previous_net,
        idempotency_key=idempotency_key,
    )
    session.add(refund)
    provider_code = session.get(Provider, tx.provider_id).code
    return record_event(
        session,
        merchant_id=tx.merchant_id,
        type=EventType.TRANSACTION_UPDATED,
        payload={
            **transaction_payload(tx, provider_code),
            "previous_status": previous_status,
            "refund": {
                "amount": amount,
                "net": refund.net,
                "remaining": tx.amount - tx.refunded_amount,
            },
        },
    )


def _require_covered(session: Session, merchant: User, tx: Transaction, net_taken: int) -> None:
    """A refund of a payment past its hold takes its net share back from the available
    balance, which must cover it (the balance never goes below zero: a merchant who has
    withdrawn everything cannot refund until new funds are released). Refunds of payments still
    held come out of their own pending net."""
    released_before = utcnow() - timedelta(days=hold_days_for(merchant))
    if net_taken <= 0 or tx.created_at >= released_before:
        return
    available = available_balance(session=session, merchant_id=tx.merchant_id, currency=tx.currency)
    if net_taken > available:
        raise DomainError(
            "insufficient_funds",
            f"This refund takes {format_money(net_taken, tx.currency)} from the available "
            f"balance; only {format_money(max(available, 0), tx.currency)} is available.",
            param="amount",
        )


def _replayed(
    session: Session, merchant_id: int, key: str, tx: Transaction, amount: int | None
) -> bool:
    earlier = session.exec(
        select(Refund).where(Refund.merchant_id == merchant_id, Refund.idempotency_key == key)
    ).first()
    if earlier is None:
        return False
    if earlier.transaction_id != tx.id or amount not in (None, earlier.amount):
        raise _key_conflict()
    return True


def _key_conflict() -> DomainError:
    return DomainError(
        "idempotency_key_reused",
        "This idempotency key was already used for a different refund.",
        param="idempotency_key",
    )


def _locked(session: Session, merchant_id: int, reference: str) -> Transaction:
    tx = session.exec(
        row_lock(
            select(Transaction).where(
                Transaction.merchant_id == merchant_id, Transaction.reference == reference
            )
        )
    ).first()
    if tx is None:
        raise DomainError("not_found", "No such payment.", param="reference")
    return tx

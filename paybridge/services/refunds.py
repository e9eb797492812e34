"""Refunds, in full or in part: the payment's refunded totals, its rollup bucket, a refund row
and a `transaction.updated` event in one DB transaction, guarded by the merchant's balance lock."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from paybridge.db import retry_on_contention, utcnow, write_session
from paybridge.errors import DomainError
from paybridge.events import EventType, commit_and_publish, record_event
from paybridge.events.payloads import transaction_payload
from paybridge.models import (
    Event,
    Provider,
    Refund,
    Transaction,
    TransactionRecord,
    TransactionStatus,
    User,
)
from paybridge.models.keys import key
from paybridge.money import format_money, validate_minor_units
from paybridge.permissions import Action, Actor, authorize
from paybridge.selectors.balances import available_balance, hold_days_for
from paybridge.services.audit import AuditAction, audit_record
from paybridge.services.locks import lock_merchant_balance, lock_payment
from paybridge.services.rollups import rollup_apply, rollup_snapshot
from paybridge.validation import clean_idempotency_key, clean_reference


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
    actor: Actor | None = None,
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
    authorize(actor, Action.REFUND, merchant_id=merchant_id)
    reference = clean_reference(reference)
    amount = validate_minor_units(amount) if amount is not None else None
    key = clean_idempotency_key(idempotency_key) if idempotency_key is not None else None
    with write_session() as session:
        merchant = lock_merchant_balance(session, merchant_id)
        tx = lock_payment(session, merchant_id, reference)
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
        event = refund_apply(session, merchant, tx, amount, idempotency_key=key)
        try:
            session.flush()
        except IntegrityError:  # a concurrent refund of another payment took the same key
            session.rollback()
            raise _key_conflict() from None
        audit_record(
            session,
            actor=actor,
            action=AuditAction.REFUND,
            target=tx.reference,
            details={"amount": amount, "currency": tx.currency},
        )
        commit_and_publish(session, [event])
        return tx


def refund_apply(
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
        transaction_id=key(tx),
        amount=amount,
        net=tx.refunded_net - previous_net,
        idempotency_key=idempotency_key,
    )
    session.add(refund)
    record = TransactionRecord.with_provider(tx, session.get_one(Provider, tx.provider_id))
    return record_event(
        session,
        merchant_id=tx.merchant_id,
        type=EventType.TRANSACTION_UPDATED,
        payload={
            **transaction_payload(record),
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
        select(Refund).where(
            col(Refund.merchant_id) == merchant_id, col(Refund.idempotency_key) == key
        )
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

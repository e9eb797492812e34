"""Payments: create one, move it through its statuses. Each call writes the transaction, its
hourly rollup and an outbox event in one DB transaction, then publishes the event."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from paybridge.db import utcnow, write_session
from paybridge.errors import DomainError
from paybridge.events import EventType, commit_and_publish, record_event
from paybridge.models import Provider, Transaction, TransactionStatus
from paybridge.models.transaction import TRANSITIONS
from paybridge.money import normalize_currency, validate_minor_units
from paybridge.services.providers import provider_fee
from paybridge.services.rollups import rollup_add
from paybridge.validation import clean_choice, clean_email, clean_reference

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
        "created_at": tx.created_at.isoformat(),
        "updated_at": tx.updated_at.isoformat(),
    }


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
    """Record a payment. `amount` is in minor units; fee and net come from the provider."""
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
    moment = (created_at or utcnow()).astimezone(UTC)

    with write_session() as session:
        route = _active_provider(session, provider)
        fee = provider_fee(route, amount)
        tx = Transaction(
            merchant_id=merchant_id,
            reference=reference,
            amount=amount,
            currency=currency,
            status=str(status),
            provider_id=route.id,
            customer_email=customer_email,
            fee=fee,
            net_amount=amount - fee,
            created_at=moment,
            updated_at=moment,
        )
        session.add(tx)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            if _reference_taken(session, reference):
                raise DomainError(
                    "duplicate_reference",
                    "A payment with this reference exists.",
                    param="reference",
                ) from None
            raise
        rollup_add(session, transaction=tx, status=tx.status, sign=+1)
        event = record_event(
            session,
            merchant_id=merchant_id,
            type=EventType.TRANSACTION_CREATED,
            payload=transaction_payload(tx, route.code),
        )
        commit_and_publish(session, [event])
        return tx


def transaction_update_status(*, merchant_id: int, reference: str, status: str) -> Transaction:
    """Move a payment along pending -> success|failed, success -> refunded."""
    reference = clean_reference(reference)
    new_status = clean_choice(status, TransactionStatus, param="status")
    with write_session() as session:
        tx = session.exec(
            select(Transaction)
            .where(Transaction.merchant_id == merchant_id, Transaction.reference == reference)
            .with_for_update()
        ).first()
        if tx is None:
            raise DomainError("not_found", "No such payment.", param="reference")
        if new_status not in TRANSITIONS[tx.status]:
            raise DomainError(
                "invalid_status_transition",
                f"A {tx.status} payment cannot become {new_status}.",
                param="status",
            )
        previous = tx.status
        rollup_add(session, transaction=tx, status=previous, sign=-1)
        tx.status = new_status
        tx.updated_at = utcnow()
        session.add(tx)
        rollup_add(session, transaction=tx, status=new_status, sign=+1)
        provider_code = session.get(Provider, tx.provider_id).code
        event = record_event(
            session,
            merchant_id=merchant_id,
            type=EventType.TRANSACTION_UPDATED,
            payload={**transaction_payload(tx, provider_code), "previous_status": previous},
        )
        commit_and_publish(session, [event])
        return tx


def _active_provider(session: Session, code: object) -> Provider:
    route = (
        session.exec(select(Provider).where(Provider.code == code)).first()
        if isinstance(code, str)
        else None
    )
    if route is None or not route.is_active:
        raise DomainError(
            "invalid_provider", f"Unknown or inactive provider: {code!r}.", param="provider"
        )
    return route


def _reference_taken(session: Session, reference: str) -> bool:
    return (
        session.exec(select(Transaction.id).where(Transaction.reference == reference)).first()
        is not None
    )

"""Payouts: withdrawing the available balance and moving a payout through its lifecycle."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from paybridge.db import retry_on_contention, utcnow, write_session
from paybridge.errors import DomainError
from paybridge.events import EventType, commit_and_publish, record_event
from paybridge.models import Settlement, SettlementStatus
from paybridge.models.settlement import SETTLEMENT_TRANSITIONS
from paybridge.money import format_money, normalize_currency, validate_minor_units
from paybridge.permissions import Action, Actor, authorize
from paybridge.selectors.balances import available_balance
from paybridge.services.audit import AuditAction, audit_record
from paybridge.services.locks import lock_merchant_balance, row_lock
from paybridge.validation import clean_choice, clean_idempotency_key, clean_text


def settlement_payload(settlement: Settlement) -> dict[str, Any]:
    return {
        "reference": settlement.reference,
        "amount": settlement.amount,
        "currency": settlement.currency,
        "status": settlement.status,
        "bank_account": settlement.bank_account,
        "failure_reason": settlement.failure_reason,
        "created_at": settlement.created_at.isoformat(),
        "completed_at": settlement.completed_at.isoformat() if settlement.completed_at else None,
    }


@retry_on_contention
def settlement_withdraw(
    *,
    merchant_id: int,
    amount: int,
    currency: str,
    idempotency_key: str | None = None,
    actor: Actor | None = None,
) -> Settlement:
    """Pay out `amount` minor units of the available balance.

    The merchant's balance lock (`services.locks`) is held from the balance check to the
    insert, so concurrent withdrawals and refunds can never overdraw. The same idempotency key
    returns the first settlement and never debits twice; reusing it for another amount is refused.
    """
    authorize(actor, Action.WITHDRAW, merchant_id=merchant_id)
    amount = validate_minor_units(amount)
    currency = normalize_currency(currency)
    if idempotency_key is not None:
        idempotency_key = clean_idempotency_key(idempotency_key)

    with write_session() as session:
        user = lock_merchant_balance(session, merchant_id)
        if idempotency_key is not None:
            earlier = _by_idempotency_key(session, merchant_id, idempotency_key)
            if earlier is not None:
                return _replay(earlier, amount, currency)
        if not user.bank_account_masked:
            raise DomainError(
                "no_bank_account", "Add a bank account before withdrawing.", param="bank_account"
            )
        available = available_balance(session=session, merchant_id=merchant_id, currency=currency)
        if amount > available:
            raise DomainError(
                "insufficient_funds",
                f"Only {format_money(max(available, 0), currency)} is available to withdraw.",
                param="amount",
            )
        settlement = Settlement(
            merchant_id=merchant_id,
            amount=amount,
            currency=currency,
            reference=f"po_{secrets.token_hex(12)}",
            bank_account=user.bank_account_masked,
            idempotency_key=idempotency_key,
        )
        session.add(settlement)
        try:
            session.flush()
        except IntegrityError:  # a concurrent request with the same key won the race
            session.rollback()
            earlier = _by_idempotency_key(session, merchant_id, idempotency_key or "")
            if earlier is None:
                raise
            return _replay(earlier, amount, currency)
        event = record_event(
            session,
            merchant_id=merchant_id,
            type=EventType.SETTLEMENT_CREATED,
            payload=settlement_payload(settlement),
        )
        audit_record(
            session,
            actor=actor,
            action=AuditAction.WITHDRAWAL,
            target=settlement.reference,
            details={"amount": amount, "currency": currency},
        )
        commit_and_publish(session, [event])
        return settlement


@retry_on_contention
def settlement_update_status(
    *, merchant_id: int, reference: str, status: str, failure_reason: str | None = None
) -> Settlement:
    """pending -> processing -> completed | failed. A failed payout stops debiting the balance,
    which returns its money to available."""
    status = clean_choice(status, SettlementStatus, param="status")
    reason = (
        clean_text(failure_reason, param="failure_reason", max_length=255)
        if failure_reason is not None
        else None
    )
    with write_session() as session:
        settlement = session.exec(
            row_lock(
                select(Settlement).where(
                    col(Settlement.merchant_id) == merchant_id,
                    col(Settlement.reference) == reference,
                )
            )
        ).first()
        if settlement is None:
            raise DomainError("not_found", "No such settlement.", param="reference")
        if status not in SETTLEMENT_TRANSITIONS[settlement.status]:
            raise DomainError(
                "invalid_status_transition",
                f"A {settlement.status} settlement cannot become {status}.",
                param="status",
            )
        settlement.status = status
        if status == SettlementStatus.FAILED:
            settlement.failure_reason = reason or "Payout failed."
        if status in (SettlementStatus.COMPLETED, SettlementStatus.FAILED):
            settlement.completed_at = utcnow()
        session.add(settlement)
        event = record_event(
            session,
            merchant_id=merchant_id,
            type=EventType.SETTLEMENT_UPDATED,
            payload=settlement_payload(settlement),
        )
        commit_and_publish(session, [event])
        return settlement


def _by_idempotency_key(session: Session, merchant_id: int, key: str) -> Settlement | None:
    return session.exec(
        select(Settlement).where(
            col(Settlement.merchant_id) == merchant_id, col(Settlement.idempotency_key) == key
        )
    ).first()


def _replay(earlier: Settlement, amount: int, currency: str) -> Settlement:
    if earlier.amount != amount or earlier.currency != currency:
        raise DomainError(
            "idempotency_key_reused",
            "This idempotency key was used for a different withdrawal.",
            param="idempotency_key",
        )
    return earlier

"""Payments: list, look up, ingest and refund."""

from __future__ import annotations

from dataclasses import replace

from paybridge.api.auth import Principal
from paybridge.api.resources.common import filtered_list
from paybridge.api.schemas import ListOut, TransactionCreate, TransactionOut
from paybridge.db import read_session
from paybridge.errors import DomainError
from paybridge.models import TransactionStatus
from paybridge.money import normalize_currency
from paybridge.selectors.pagination import PageRequest
from paybridge.selectors.transactions import TransactionFilters, transactions_page
from paybridge.selectors.transactions import transaction_get as select_transaction
from paybridge.services import refunds as refund_service
from paybridge.services import transactions as transaction_service
from paybridge.services.transactions import NewPayment
from paybridge.validation import clean_choice, clean_reference


def transactions_list(
    principal: Principal, page: PageRequest, filters: TransactionFilters
) -> ListOut[TransactionOut]:
    if filters.status is not None:
        clean_choice(filters.status, TransactionStatus, param="status")
    if filters.currency is not None:
        filters = replace(filters, currency=normalize_currency(filters.currency))
    return filtered_list(principal, page, filters, transactions_page, TransactionOut.from_record)


def transaction_get(principal: Principal, reference: str) -> TransactionOut:
    reference = _reference(reference)
    with read_session() as session:
        record = select_transaction(
            session=session, merchant_id=principal.merchant_id, reference=reference
        )
    if record is None:
        raise DomainError("not_found", "No such payment.", param="reference")
    return TransactionOut.from_record(record)


def new_payment(
    principal: Principal, body: TransactionCreate, *, request_id: str | None
) -> NewPayment:
    """A payment to ingest for the caller, checked (raises DomainError)."""
    return transaction_service.new_payment(
        actor=principal.actor,
        merchant_id=principal.merchant_id,
        amount=body.amount,
        currency=body.currency,
        provider=body.provider,
        customer_email=body.customer_email,
        reference=body.reference,
        status=body.status,
        request_id=request_id,
    )


def payment_json(payment: NewPayment) -> bytes:
    """The 201 answer to a recorded payment, rendered as FastAPI renders `TransactionOut`."""
    out = TransactionOut.from_record(payment.record)
    return TransactionOut.__pydantic_serializer__.to_json(out, by_alias=True)


def transaction_refund(
    principal: Principal, reference: str, amount: int | None = None
) -> TransactionOut:
    """Refund a successful payment: `amount` minor units, or all that is left."""
    reference = _reference(reference)
    refund_service.transaction_refund(
        merchant_id=principal.merchant_id, reference=reference, amount=amount, actor=principal.actor
    )
    return transaction_get(principal, reference)


def _reference(value: str) -> str:
    try:
        return clean_reference(value)
    except DomainError:  # a malformed reference names no payment
        raise DomainError("not_found", "No such payment.", param="reference") from None

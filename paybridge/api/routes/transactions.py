"""Payments: list, ingest, read, refund."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Body, Path, Query, Response

from paybridge.api import resources
from paybridge.api.direct_body import direct_json_body
from paybridge.api.idempotency import (
    REPLAYED_HEADER,
    current_keyed_request,
    keys_handled_by_endpoint,
    money_write,
)
from paybridge.api.ingest import PaymentWriter, writers_from_env
from paybridge.api.routes.common import (
    MONEY_WRITE_ERRORS,
    WRITE_ERRORS,
    CurrentPrincipal,
    Paging,
    authenticated_router,
)
from paybridge.api.schemas import ListOut, RefundRequest, TransactionCreate, TransactionOut
from paybridge.logs import current_request_id
from paybridge.models import TransactionStatus
from paybridge.selectors.transactions import TransactionFilters

router = authenticated_router("transactions")
Reference = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9_.:\-]{1,64}$",
        description="The payment's reference: 1-64 letters, digits, '_', '-', '.' or ':'.",
    ),
]


@router.get(
    "/transactions",
    response_model=ListOut[TransactionOut],
    summary="List payments, newest first",
    description="Cursors are payment references. Filters combine; `created_gte`/`created_lt` "
    "take ISO 8601 times (UTC when no offset is given).",
)
def list_transactions(
    principal: CurrentPrincipal,
    page: Paging,
    status: TransactionStatus | None = None,
    provider: str | None = Query(None, max_length=40),
    currency: str | None = Query(None, max_length=3),
    customer_email: str | None = Query(None, max_length=320),
    created_gte: datetime | None = None,
    created_lt: datetime | None = None,
) -> ListOut[TransactionOut]:
    filters = TransactionFilters(
        status=status.value if status else None,
        provider=provider,
        currency=currency,
        customer_email=customer_email,
        created_gte=created_gte,
        created_lt=created_lt,
    )
    return resources.transactions_list(principal, page, filters)


_payments = PaymentWriter(resources.payment_json, writers=writers_from_env())


@router.post(
    "/transactions",
    response_model=TransactionOut,
    status_code=201,
    responses=WRITE_ERRORS,
    summary="Ingest a payment",
    description="Payments arriving together are committed together (one database transaction "
    "for many requests); each is answered 201 once its transaction has committed.",
)
@keys_handled_by_endpoint
@direct_json_body
async def create_transaction(body: TransactionCreate, principal: CurrentPrincipal) -> Response:
    request_id = current_request_id()
    answer = await _payments.submit(
        lambda: resources.new_payment(principal, body, request_id=request_id),
        current_keyed_request(),
    )
    return Response(
        answer.body,
        status_code=answer.status,
        media_type="application/json",
        headers={REPLAYED_HEADER: "true"} if answer.replayed else None,
    )


@router.get("/transactions/{reference}", response_model=TransactionOut, summary="One payment")
def get_transaction(reference: Reference, principal: CurrentPrincipal) -> TransactionOut:
    return resources.transaction_get(principal, reference)


@router.post(
    "/transactions/{reference}/refund",
    response_model=TransactionOut,
    responses=MONEY_WRITE_ERRORS,
    summary="Refund a successful payment, in full or in part",
    description='Send `{"amount": N}` to give back N minor units, or no body to refund all '
    "that is left. A payment stays `success` until nothing is left to refund, then becomes "
    "`refunded`. Refunding money that has already been released needs an available balance "
    "that covers its net (`insufficient_funds` otherwise); `refund_exceeds_remaining` when "
    "N is more than is left.",
)
@money_write
def refund_transaction(
    reference: Reference,
    principal: CurrentPrincipal,
    # No body is an empty one (refund all that is left). Not `RefundRequest | None`: a client
    # generated from a nullable body sends its "unset" marker as JSON and fails.
    body: Annotated[RefundRequest, Body(default_factory=RefundRequest)],
) -> TransactionOut:
    return resources.transaction_refund(principal, reference, amount=body.amount)

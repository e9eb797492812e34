"""What a payment looks like in its events and webhook bodies; services write it, the
event feed and the webhook fan-out send it as is."""

from __future__ import annotations

from typing import Any

from paybridge.models import TransactionRecord


def transaction_payload(record: TransactionRecord) -> dict[str, Any]:
    """The event/webhook representation of a payment (amounts in minor units; the provider by
    its code)."""
    return {
        "reference": record.reference,
        "amount": record.amount,
        "currency": record.currency,
        "status": record.status,
        "provider": record.provider_code,
        "customer_email": record.customer_email,
        "fee": record.fee,
        "net_amount": record.net_amount,
        "refunded_amount": record.refunded_amount,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }

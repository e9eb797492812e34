"""What a payment looks like in its events and webhook bodies; services write it, the
event feed and the webhook fan-out send it as is."""

from __future__ import annotations

from typing import Any

from paybridge.models import Transaction


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

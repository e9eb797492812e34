"""The dashboard's activity, as selectors/activity.py reads it: a `RecentRow` per recent payment
and a `FeedLine` per event of the feed, built from the database or from an event heard live.
Pure functions without Reflex."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from paybridge.display import format_local
from paybridge.models.transaction import TransactionRecord
from paybridge.money import format_money
from paybridge.views.labels import STATUS_COLORS


@dataclass(frozen=True)
class RecentRow:
    """One payment of the "Recent transactions" table (its phone layout too), from
    `recent_transactions` or, live, from a transaction.created event's payload
    (`events.payloads.transaction_payload`)."""

    reference: str  # TransactionRecord.reference
    customer: str  # TransactionRecord.customer_email
    amount: str  # TransactionRecord.amount in TransactionRecord.currency
    provider: str  # TransactionRecord.provider_name (live: the payload's code, by its name)
    status: str  # TransactionRecord.status (live: of the payment's newest event)
    time: str  # TransactionRecord.created_at in the merchant's timezone


@dataclass(frozen=True)
class FeedLine:
    """One line of the activity feed: an event from `recent_events` (or heard live) in words."""

    id: str  # Event.id
    text: str  # what happened, from Event.type and its payload's amount, status, customer, url
    icon: str  # the line's icon, by Event.type
    color: str  # by Event.type and its payload's status
    reference: str  # the payload's reference ("" for an event without one)
    time: str  # Event.created_at in the merchant's timezone, to the second


def record_row(record: TransactionRecord, tz: str) -> RecentRow:
    """A recent-table row from a payment read from the database."""
    return _row(
        record.reference,
        record.customer_email,
        record.amount,
        record.currency,
        record.provider_name,
        record.status,
        record.created_at,
        tz,
    )


def transaction_row(
    data: dict[str, Any], tz: str, provider_names: dict[str, str] | None = None
) -> RecentRow:
    """A recent-table row from an event's payload, which names the provider by code
    ("mobile_money"), shown by its display name ("Mobile Money")."""
    code = data.get("provider", "")
    return _row(
        data["reference"],
        data["customer_email"],
        data["amount"],
        data["currency"],
        (provider_names or {}).get(code, code),
        data["status"],
        datetime.fromisoformat(data["created_at"]),
        tz,
    )


def _row(
    reference: str,
    customer: str,
    amount: int,
    currency: str,
    provider: str,
    status: str,
    created_at: datetime,
    tz: str,
) -> RecentRow:
    return RecentRow(
        reference=reference,
        customer=customer,
        amount=format_money(amount, currency),
        provider=provider,
        status=status,
        time=format_local(created_at, tz),
    )


def feed_item(message: dict[str, Any], tz: str) -> FeedLine:
    """One line of the activity feed for an outbox event (`events.outbox.event_message`)."""
    kind, data = message["type"], message["payload"]
    amount = (
        format_money(data["amount"], data["currency"])
        if "amount" in data and "currency" in data
        else ""
    )
    if kind == "transaction.created":
        text, icon, color = (
            f"New {data['status']} payment {amount} from {data['customer_email']}",
            "credit-card",
            "blue",
        )
    elif kind == "transaction.updated" and isinstance(data.get("refund"), dict):
        refunded = format_money(int(data["refund"].get("amount", 0)), data["currency"])
        whole = "in full" if data["status"] == "refunded" else "in part"
        text, icon, color = f"Refunded {refunded} of payment {amount} ({whole})", "undo-2", "gray"
    elif kind == "transaction.updated":
        verb = {"success": "succeeded", "failed": "failed", "refunded": "was refunded"}.get(
            data["status"], data["status"]
        )
        color = STATUS_COLORS.get(data["status"], "gray")
        text, icon = f"Payment {amount} {verb}", "refresh-cw"
    elif kind.startswith("settlement."):
        text, icon, color = f"Payout {amount} {data.get('status', '')}", "landmark", "violet"
        if data.get("status") == "failed":
            color = "red"
    elif kind == "webhook.delivered":
        text, icon, color = (
            f"Webhook delivered to {data.get('url', 'endpoint')}",
            "webhook",
            "green",
        )
    elif kind.startswith("webhook."):
        text, icon, color = (
            f"Webhook {kind.split('.', 1)[1]}: {data.get('url', 'endpoint')}",
            "webhook",
            "red",
        )
    else:
        text, icon, color = kind, "activity", "gray"
    return FeedLine(
        id=str(message["id"]),
        text=text,
        icon=icon,
        color=color,
        reference=str(data.get("reference", "")),
        time=format_local(datetime.fromisoformat(message["created_at"]), tz, seconds=True),
    )

"""One payment in full for its detail page: amounts and fee breakdown, refunds, the timeline of
its outbox events (found by the payload's reference, through ix_events_merchant_reference) and
the webhook deliveries of those events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from paybridge.models import Event, Provider, Refund, Transaction, TransactionRecord
from paybridge.models.event import payload_reference
from paybridge.models.keys import key
from paybridge.money import percent_of
from paybridge.selectors.transactions import transaction_get

MAX_EVENTS = 200
MAX_DELIVERIES = 200


@dataclass(frozen=True)
class TimelineEvent:
    id: int
    type: str
    created_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class RefundRow:
    amount: int
    net: int
    created_at: datetime


@dataclass(frozen=True)
class DeliveryLine:
    event_id: int
    event_type: str
    url: str
    status: str  # pending | succeeded | failed
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class PaymentDetail:
    payment: TransactionRecord
    refunded_net: int
    fee_bps: int  # the provider's schedule today (the fee itself was fixed at creation)
    fee_fixed: int
    events: list[TimelineEvent]  # oldest first
    refunds: list[RefundRow]  # oldest first
    deliveries: list[DeliveryLine]  # oldest first

    @property
    def refundable(self) -> int:
        """Minor units that can still be refunded (0 unless the payment succeeded)."""
        p = self.payment
        return p.amount - p.refunded_amount if p.status == "success" else 0

    @property
    def remaining(self) -> int:
        """The amount less what was refunded."""
        return self.payment.amount - self.payment.refunded_amount

    @property
    def kept(self) -> int:
        """The net less the refunds' share of it: what the merchant keeps of this payment."""
        return self.payment.net_amount - self.refunded_net

    @property
    def percent_fee(self) -> int:
        """The percentage part of the fee by today's schedule (never more than the amount)."""
        return min(percent_of(self.payment.amount, self.fee_bps), self.payment.amount)

    @property
    def fee_matches_schedule(self) -> bool:
        """Today's schedule gives the fee charged; False once the provider's fees changed."""
        return self.percent_fee + self.fee_fixed == self.payment.fee


def payment_detail(*, session: Session, merchant_id: int, reference: str) -> PaymentDetail | None:
    """The merchant's payment `reference` with everything around it; None for another's."""
    record = transaction_get(session=session, merchant_id=merchant_id, reference=reference)
    if record is None:
        return None
    tx_id, refunded_net, provider_id = session.exec(
        select(Transaction.id, Transaction.refunded_net, Transaction.provider_id).where(
            col(Transaction.merchant_id) == merchant_id, col(Transaction.reference) == reference
        )
    ).one()
    provider = session.get(Provider, provider_id)
    assert provider is not None  # transactions.provider_id is a foreign key
    events = session.exec(
        select(Event)
        .where(
            col(Event.merchant_id) == merchant_id,
            payload_reference() == reference,
            col(Event.type).like("transaction.%"),
        )
        .order_by(col(Event.id))
        .limit(MAX_EVENTS)
    ).all()
    refunds = session.exec(
        select(Refund.amount, Refund.net, Refund.created_at)
        .where(col(Refund.transaction_id) == tx_id, col(Refund.merchant_id) == merchant_id)
        .order_by(col(Refund.id))
    ).all()
    return PaymentDetail(
        payment=record,
        refunded_net=refunded_net,
        fee_bps=provider.fee_bps,
        fee_fixed=provider.fee_fixed,
        events=[TimelineEvent(key(e), e.type, e.created_at, dict(e.payload)) for e in events],
        refunds=[RefundRow(a, n, t) for a, n, t in refunds],
        deliveries=_deliveries(session, merchant_id, [key(e) for e in events]),
    )


def _deliveries(session: Session, merchant_id: int, event_ids: list[int]) -> list[DeliveryLine]:
    """Webhook deliveries of these events, when the delivery engine is installed."""
    if not event_ids:
        return []
    try:
        from paybridge.models import Webhook, WebhookDelivery
    except ImportError:  # pragma: no cover - the webhook engine is optional
        return []
    rows = session.exec(
        select(WebhookDelivery, Webhook.url)
        .join(Webhook, col(Webhook.id) == col(WebhookDelivery.webhook_id))
        .where(
            col(WebhookDelivery.merchant_id) == merchant_id,
            col(WebhookDelivery.event_id).in_(event_ids),
        )
        .order_by(col(WebhookDelivery.id))
        .limit(MAX_DELIVERIES)
    ).all()
    return [
        DeliveryLine(
            event_id=d.event_id,
            event_type=d.event_type,
            url=url,
            status=d.status,
            attempts=d.attempt_count,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            created_at=d.created_at,
            finished_at=d.finished_at,
        )
        for d, url in rows
    ]

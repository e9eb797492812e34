"""The payment page's display values, built from the selector's `PaymentDetail`: the summary,
the fee breakdown, the timeline of its events, its webhook deliveries and refunds. Every
number is the selector's (`PaymentDetail` and its `TransactionRecord`); this module only
formats. Pure functions without Reflex."""

from __future__ import annotations

from dataclasses import dataclass, field

from paybridge.display import format_bp, format_local
from paybridge.money import format_money, to_decimal
from paybridge.selectors.payment_detail import (
    DeliveryLine,
    PaymentDetail,
    RefundRow,
    TimelineEvent,
)
from paybridge.views.labels import DELIVERY_COLORS


@dataclass(frozen=True)
class PaymentSummary:
    """The card at the top of the page; amounts in the payment's currency."""

    reference: str = ""  # TransactionRecord.reference
    status: str = ""  # TransactionRecord.status
    amount: str = ""  # TransactionRecord.amount
    currency: str = ""  # TransactionRecord.currency
    net: str = ""  # TransactionRecord.net_amount
    refunded: str = ""  # TransactionRecord.refunded_amount
    remaining: str = ""  # PaymentDetail.remaining: the amount less the refunds
    kept: str = ""  # PaymentDetail.kept: the net less the refunds' share of it
    provider: str = ""  # "Card (card)": TransactionRecord.provider_name and provider_code
    customer: str = ""  # TransactionRecord.customer_email
    created: str = ""  # TransactionRecord.created_at in the user's timezone, named
    updated: str = ""  # TransactionRecord.updated_at, likewise


@dataclass(frozen=True)
class FeeLine:
    """A line of the fee breakdown: what it is and how much (empty for a note)."""

    label: str
    value: str


@dataclass(frozen=True)
class TimelineLine:
    """One of the payment's events, in words."""

    id: str  # TimelineEvent.id
    type: str  # TimelineEvent.type, e.g. "transaction.updated"
    text: str  # "Created as pending", "Status pending → success", a refund's amounts
    time: str  # TimelineEvent.created_at


@dataclass(frozen=True)
class DeliveryRow:
    """A webhook delivery of one of the payment's events."""

    url: str  # DeliveryLine.url
    event: str  # DeliveryLine.event_type
    status: str  # DeliveryLine.status: pending | succeeded | failed
    color: str  # the status's badge colour
    attempts: str  # DeliveryLine.attempts
    code: str  # DeliveryLine.last_status_code, "—" before any answer
    error: str  # DeliveryLine.last_error
    time: str  # DeliveryLine.created_at


@dataclass(frozen=True)
class RefundLine:
    amount: str  # RefundRow.amount
    net: str  # RefundRow.net: what it took off the balance
    time: str  # RefundRow.created_at


@dataclass(frozen=True)
class PaymentView:
    """Everything the page shows of one payment."""

    summary: PaymentSummary
    fees: list[FeeLine] = field(default_factory=list)
    timeline: list[TimelineLine] = field(default_factory=list)
    deliveries: list[DeliveryRow] = field(default_factory=list)
    refunds: list[RefundLine] = field(default_factory=list)
    refundable: bool = False  # PaymentDetail.refundable > 0
    refund_default: str = ""  # PaymentDetail.refundable in major units: the refund field's value


def payment_view(detail: PaymentDetail, tz: str) -> PaymentView:
    p, c = detail.payment, detail.payment.currency
    return PaymentView(
        summary=PaymentSummary(
            reference=p.reference,
            status=p.status,
            amount=format_money(p.amount, c),
            currency=c,
            net=format_money(p.net_amount, c),
            refunded=format_money(p.refunded_amount, c),
            remaining=format_money(detail.remaining, c),
            kept=format_money(detail.kept, c),
            provider=f"{p.provider_name} ({p.provider_code})",
            customer=p.customer_email,
            created=format_local(p.created_at, tz, seconds=True) + f" ({tz})",
            updated=format_local(p.updated_at, tz, seconds=True) + f" ({tz})",
        ),
        fees=fee_lines(detail),
        timeline=[timeline_line(e, tz) for e in detail.events],
        deliveries=[delivery_row(d, tz) for d in detail.deliveries],
        refunds=[refund_line(r, c, tz) for r in detail.refunds],
        refundable=detail.refundable > 0,
        refund_default=str(to_decimal(detail.refundable, c)) if detail.refundable else "",
    )


def fee_lines(detail: PaymentDetail) -> list[FeeLine]:
    """The percentage part by today's schedule, the fixed part and the fee charged; a note when
    the schedule changed since (then the parts do not add up to the fee)."""
    p, c = detail.payment, detail.payment.currency
    lines = [
        FeeLine(
            label=f"{format_bp(detail.fee_bps)} of {format_money(p.amount, c)}",
            value=format_money(detail.percent_fee, c),
        ),
        FeeLine(label="Fixed fee", value=format_money(detail.fee_fixed, c)),
        FeeLine(label="Fee charged", value=format_money(p.fee, c)),
    ]
    if not detail.fee_matches_schedule:
        lines.append(FeeLine(label="The provider's schedule changed after this payment", value=""))
    return lines


def timeline_line(event: TimelineEvent, tz: str) -> TimelineLine:
    data = event.payload
    currency = data.get("currency", "USD")
    refund = data.get("refund")
    if event.type == "transaction.created":
        text = f"Created as {data.get('status', '?')}"
    elif isinstance(refund, dict):
        full = data.get("status") == "refunded"
        text = (
            f"{'Refunded in full' if full else 'Partially refunded'}: "
            f"{format_money(int(refund.get('amount', 0)), currency)} "
            f"({format_money(int(refund.get('net', 0)), currency)} off the balance)"
        )
    elif "previous_status" in data:
        text = f"Status {data['previous_status']} → {data.get('status', '?')}"
    else:
        text = event.type
    return TimelineLine(
        id=str(event.id),
        type=event.type,
        text=text,
        time=format_local(event.created_at, tz, seconds=True),
    )


def delivery_row(d: DeliveryLine, tz: str) -> DeliveryRow:
    return DeliveryRow(
        url=d.url,
        event=d.event_type,
        status=d.status,
        color=DELIVERY_COLORS.get(d.status, "gray"),
        attempts=str(d.attempts),
        code=str(d.last_status_code) if d.last_status_code is not None else "—",
        error=d.last_error or "",
        time=format_local(d.created_at, tz, seconds=True),
    )


def refund_line(r: RefundRow, currency: str, tz: str) -> RefundLine:
    return RefundLine(
        amount=format_money(r.amount, currency),
        net=format_money(r.net, currency),
        time=format_local(r.created_at, tz, seconds=True),
    )


def refund_question(amount: int, remaining: int, currency: str, customer: str) -> str:
    """The confirmation the refund dialog asks before refunding `amount` of what is left."""
    whole = amount == remaining
    return (
        f"Refund {format_money(amount, currency)} to {customer}"
        + (" — the whole remaining amount" if whole else " — a partial refund")
        + "? This cannot be undone."
    )

"""`/transactions/<reference>`: one payment — amounts, fee breakdown, refunds, the timeline of
its events and webhook deliveries — and a full or partial refund behind a confirmation.

The refund is two events: `prepare_refund` validates the amount typed (major units, parsed by
money.parse_amount in the payment's currency, at most what is left) and keeps it, with a fresh
idempotency key, in backend-only vars; `confirm_refund` refunds exactly that, so a forged or
repeated confirm can neither change the amount nor refund twice.
"""

from __future__ import annotations

import secrets

import reflex as rx
from reflex.event import EventSpec

from paybridge.db import read_session
from paybridge.display import format_bp, format_local
from paybridge.errors import DomainError
from paybridge.money import format_money, parse_amount, to_decimal
from paybridge.selectors.payment_detail import PaymentDetail, TimelineEvent, payment_detail
from paybridge.selectors.users import user_timezone
from paybridge.services.auth import Identity
from paybridge.services.transactions import transaction_refund
from paybridge.state.auth import form_text
from paybridge.state.guard import in_money_turn, merchant_event
from paybridge.state.session import SessionState, in_thread
from paybridge.validation import clean_reference

ROUTE_PREFIX = "/transactions/"


def timeline_line(event: TimelineEvent, tz: str) -> dict[str, str]:
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
    return {
        "id": str(event.id),
        "type": event.type,
        "text": text,
        "time": format_local(event.created_at, tz, seconds=True),
    }


class PaymentState(SessionState):
    found: bool = False
    loaded: bool = False
    info: dict[str, str] = {}
    fees: list[dict[str, str]] = []
    timeline: list[dict[str, str]] = []
    deliveries: list[dict[str, str]] = []
    refunds: list[dict[str, str]] = []
    refundable: bool = False
    refund_default: str = ""
    refund_error: str = ""
    confirm_open: bool = False
    confirm_text: str = ""
    notice: str = ""
    form_key: int = 0

    _reference: str = ""
    _currency: str = ""
    _remaining: int = 0
    _refund_amount: int = 0
    _refund_key: str = ""

    def _reference_from_url(self) -> str | None:
        path = self.router.url.path.rstrip("/")
        if not path.startswith(ROUTE_PREFIX):
            return None
        try:
            return clean_reference(path[len(ROUTE_PREFIX) :])
        except DomainError:
            return None

    def _show(self, merchant_id: int, *, remount: bool = True) -> None:
        with read_session() as session:
            tz = user_timezone(session=session, merchant_id=merchant_id)
            detail = (
                payment_detail(session=session, merchant_id=merchant_id, reference=self._reference)
                if self._reference
                else None
            )
        self.loaded = True
        self.found = detail is not None
        if detail is None:
            self.info, self.fees, self.timeline, self.deliveries, self.refunds = {}, [], [], [], []
            self.refundable = False
            return
        self._fill(detail, tz, remount=remount)

    def _fill(self, detail: PaymentDetail, tz: str, *, remount: bool) -> None:
        p, c = detail.payment, detail.payment.currency
        self._currency, self._remaining = c, detail.refundable
        self.info = {
            "reference": p.reference,
            "status": p.status,
            "amount": format_money(p.amount, c),
            "currency": c,
            "fee": format_money(p.fee, c),
            "net": format_money(p.net_amount, c),
            "refunded": format_money(p.refunded_amount, c),
            "refunded_net": format_money(detail.refunded_net, c),
            "kept": format_money(detail.kept, c),
            "remaining": format_money(detail.remaining, c),
            "provider": f"{p.provider_name} ({p.provider_code})",
            "customer": p.customer_email,
            "created": format_local(p.created_at, tz, seconds=True) + f" ({tz})",
            "updated": format_local(p.updated_at, tz, seconds=True) + f" ({tz})",
            "created_utc": p.created_at.isoformat(),
        }
        self.fees = [
            {
                "label": f"{format_bp(detail.fee_bps)} of {format_money(p.amount, c)}",
                "value": format_money(detail.percent_fee, c),
            },
            {"label": "Fixed fee", "value": format_money(detail.fee_fixed, c)},
            {"label": "Fee charged", "value": format_money(p.fee, c)},
        ]
        if not detail.fee_matches_schedule:
            self.fees.append(
                {
                    "label": "The provider's schedule changed after this payment",
                    "value": "",
                }
            )
        self.timeline = [timeline_line(e, tz) for e in detail.events]
        self.deliveries = [
            {
                "url": d.url,
                "event": d.event_type,
                "status": d.status,
                "attempts": str(d.attempts),
                "code": str(d.last_status_code) if d.last_status_code is not None else "—",
                "error": d.last_error or "",
                "time": format_local(d.created_at, tz, seconds=True),
            }
            for d in detail.deliveries
        ]
        self.refunds = [
            {
                "amount": format_money(r.amount, c),
                "net": format_money(r.net, c),
                "time": format_local(r.created_at, tz, seconds=True),
            }
            for r in detail.refunds
        ]
        self.refundable = detail.refundable > 0
        self.refund_default = str(to_decimal(detail.refundable, c)) if detail.refundable else ""
        if remount:  # the refund field shows what is left (kept while the user edits it)
            self.form_key += 1

    @rx.event
    @in_thread
    def load(self) -> None:
        self.refund_error = self.notice = self.confirm_text = ""
        self.confirm_open, self.loaded = False, False
        self._refund_amount, self._refund_key = 0, ""
        found = self._identity()
        if found is None:
            return
        self._reference = self._reference_from_url() or ""
        self._show(found.merchant_id)

    @rx.event
    @in_thread
    @merchant_event
    def prepare_refund(self, found: Identity, form: dict) -> EventSpec | None:
        self.notice, self.refund_error = "", ""
        self._show(found.merchant_id, remount=False)  # what is left now, not at page load
        if not self.refundable:
            self.refund_error = "This payment cannot be refunded."
            return None
        try:
            amount = parse_amount(form_text(form, "amount", max_length=40), self._currency)
        except DomainError as error:
            self.refund_error = error.message
            return None
        if amount > self._remaining:
            self.refund_error = (
                f"At most {format_money(self._remaining, self._currency)} can be refunded."
            )
            return None
        self._refund_amount, self._refund_key = amount, f"ui-{secrets.token_urlsafe(16)}"
        whole = amount == self._remaining
        self.confirm_text = (
            f"Refund {format_money(amount, self._currency)} to {self.info.get('customer', '')}"
            + (" — the whole remaining amount" if whole else " — a partial refund")
            + "? This cannot be undone."
        )
        self.confirm_open = True
        return None

    @rx.event
    async def cancel_refund(self) -> None:
        self.confirm_open = False
        self._refund_amount, self._refund_key = 0, ""

    def _refund_refused(self, message: str) -> None:
        self.confirm_open = False
        self.refund_error = message

    @rx.event
    @in_money_turn(_refund_refused)
    @merchant_event
    def confirm_refund(self, found: Identity) -> EventSpec | None:
        self.confirm_open = False
        amount, key = self._refund_amount, self._refund_key
        if not amount or not key or not self._reference:
            return None
        try:
            transaction_refund(
                merchant_id=found.merchant_id,
                reference=self._reference,
                amount=amount,
                idempotency_key=key,
                actor=self._actor(),
            )
        except DomainError as error:
            self.refund_error = error.message
        else:
            self.notice = f"Refunded {format_money(amount, self._currency)}."
        self._refund_amount, self._refund_key = 0, ""
        self._show(found.merchant_id)
        return None

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
from paybridge.errors import DomainError
from paybridge.money import format_money, parse_amount
from paybridge.selectors.payment_detail import payment_detail
from paybridge.selectors.users import user_timezone
from paybridge.services.auth import Identity
from paybridge.services.transactions import transaction_refund
from paybridge.state.auth import form_text
from paybridge.state.guard import in_money_turn, merchant_event
from paybridge.state.session import SessionState, in_thread
from paybridge.validation import clean_reference
from paybridge.views.payment import (
    DeliveryRow,
    FeeLine,
    PaymentSummary,
    RefundLine,
    TimelineLine,
    payment_view,
    refund_question,
)

ROUTE_PREFIX = "/transactions/"


class PaymentState(SessionState):
    found: bool = False
    loaded: bool = False
    summary: PaymentSummary = PaymentSummary()
    fees: list[FeeLine] = []
    timeline: list[TimelineLine] = []
    deliveries: list[DeliveryRow] = []
    refunds: list[RefundLine] = []
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
            self.summary, self.fees, self.timeline = PaymentSummary(), [], []
            self.deliveries, self.refunds = [], []
            self.refundable = False
            return
        self._currency, self._remaining = detail.payment.currency, detail.refundable
        view = payment_view(detail, tz)
        self.summary, self.fees, self.timeline = view.summary, view.fees, view.timeline
        self.deliveries, self.refunds = view.deliveries, view.refunds
        self.refundable, self.refund_default = view.refundable, view.refund_default
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
        self.confirm_text = refund_question(
            amount, self._remaining, self._currency, self.summary.customer
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

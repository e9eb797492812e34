"""The withdraw dialog, shared by the dashboard and the settlements page. The currency is checked
when the dialog opens; each opened dialog carries its own idempotency key, so a double submit
can never pay out twice."""

from __future__ import annotations

import secrets

import reflex as rx
from reflex.event import EventSpec

from paybridge.db import read_session
from paybridge.errors import DomainError
from paybridge.money import format_money, normalize_currency, parse_amount
from paybridge.selectors.balances import available_balance
from paybridge.services.auth import Identity
from paybridge.services.settlements import settlement_withdraw
from paybridge.state.auth import form_text
from paybridge.state.guard import in_money_turn, merchant_event
from paybridge.state.session import SessionState, in_thread


class WithdrawState(SessionState):
    currency: str = ""
    available: str = ""
    is_open: bool = False
    error: str = ""
    result: str = ""

    _key: str = ""

    @rx.event
    @in_thread
    @merchant_event
    def open_for(self, found: Identity, currency: str) -> EventSpec | None:
        try:
            code = normalize_currency(currency)
        except DomainError as error:
            self.error = error.message
            return None
        with read_session() as session:
            amount = available_balance(
                session=session, merchant_id=found.merchant_id, currency=code
            )
        self.currency, self.available = code, format_money(max(amount, 0), code)
        self.error = self.result = ""
        self._key = f"ui_{secrets.token_hex(16)}"
        self.is_open = True
        return None

    @rx.event
    async def close(self) -> None:
        self.is_open = False
        self._key = ""

    def _refused(self, message: str) -> None:
        self.error = message

    @rx.event
    @in_money_turn(_refused)
    @merchant_event
    def submit(self, found: Identity, form: dict) -> EventSpec | None:
        self.error = self.result = ""
        if not self._key or not self.currency:
            self.error = "Open the withdraw dialog again."
            return None
        try:
            amount = parse_amount(form_text(form, "amount", max_length=32), self.currency)
            settlement = settlement_withdraw(
                merchant_id=found.merchant_id,
                amount=amount,
                currency=self.currency,
                idempotency_key=self._key,
                actor=self._actor(),
            )
        except DomainError as error:
            self.error = error.message
            return None
        self._key = ""
        paid = format_money(settlement.amount, settlement.currency)
        self.result = (
            f"Payout {settlement.reference} of {paid} to {settlement.bank_account} "
            f"is {settlement.status}."
        )
        return None

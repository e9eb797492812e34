"""`/settlements`: balances per currency, payout schedule and bank account, payout history."""

from __future__ import annotations

from typing import ClassVar

import reflex as rx
from reflex.event import EventSpec

from paybridge.db import read_session
from paybridge.errors import DomainError
from paybridge.models import PayoutSchedule, SettlementStatus
from paybridge.selectors.balances import balances
from paybridge.selectors.pagination import PageRequest
from paybridge.selectors.settlement_history import SettlementFilters, settlements_page
from paybridge.selectors.settlements import user_payout_settings
from paybridge.services.auth import Identity
from paybridge.services.users import user_update_payout_settings
from paybridge.state.auth import form_text
from paybridge.state.guard import merchant_event
from paybridge.state.paging import CursorPages
from paybridge.state.session import SessionState, in_thread
from paybridge.views.settlements import (
    BalanceRow,
    PayoutRow,
    balance_row,
    hold_days_label,
    next_payout_label,
    payout_row,
)

PAGE_SIZE = 20
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _int_field(form: dict, name: str, low: int, high: int) -> int:
    text = form_text(form, name, max_length=3)
    if not text.isdigit() or not low <= int(text) <= high:
        raise DomainError("invalid_request", f"{name.replace('_', ' ')} must be {low} to {high}.")
    return int(text)


class SettlementsState(CursorPages, SessionState):
    _page_size: ClassVar[int] = PAGE_SIZE

    balances: list[BalanceRow] = []
    schedule: str = PayoutSchedule.MANUAL.value
    weekday: str = "4"
    day_of_month: str = "1"
    bank_name: str = ""
    bank_account: str = ""
    hold_days: str = ""
    next_payout: str = ""
    settings_error: str = ""
    settings_saved: str = ""
    history: list[PayoutRow] = []
    status_filter: str = "all"

    def _show(self, merchant_id: int, page: PageRequest | None = None) -> None:
        with read_session() as session:
            payout = user_payout_settings(session=session, merchant_id=merchant_id)
            if payout is None:
                return
            money = balances(session=session, merchant_id=merchant_id)
            status = None if self.status_filter == "all" else self.status_filter
            request = page or PageRequest(limit=PAGE_SIZE)
            result = settlements_page(
                session=session,
                merchant_id=merchant_id,
                page=request,
                filters=SettlementFilters(status=status),
            )
        self.balances = [balance_row(b) for b in money]
        self.schedule = payout.schedule
        self.weekday, self.day_of_month = str(payout.weekday), str(payout.day_of_month)
        self.bank_name, self.bank_account = payout.bank_name, payout.bank_account_masked
        self.hold_days = hold_days_label(payout.hold_days)
        self.next_payout = next_payout_label(payout.next_payout)
        rows = result.data
        self.history = [payout_row(s, payout.timezone) for s in rows]
        self._paged(
            request,
            has_more=result.has_more,
            first=rows[0].reference if rows else "",
            last=rows[-1].reference if rows else "",
        )

    @rx.event
    @in_thread
    def load(self) -> None:
        self.settings_error = self.settings_saved = ""
        found = self._identity()
        if found is not None:
            self._show(found.merchant_id)

    @rx.event
    @in_thread
    @merchant_event
    def set_status_filter(self, found: Identity, status: str) -> EventSpec | None:
        if status == "all" or status in {s.value for s in SettlementStatus}:
            self.status_filter = status
            self._show(found.merchant_id)
        return None

    @rx.event
    @in_thread
    @merchant_event
    def save_settings(self, found: Identity, form: dict) -> EventSpec | None:
        self.settings_error = self.settings_saved = ""
        try:
            account = form_text(form, "bank_account_number", max_length=40).strip()
            user_update_payout_settings(
                user_id=found.merchant_id,
                schedule=form_text(form, "schedule", max_length=16),
                weekday=_int_field(form, "weekday", 0, 6),
                day_of_month=_int_field(form, "day_of_month", 1, 31),
                bank_name=form_text(form, "bank_name", max_length=80) or None,
                bank_account_number=account or None,
                actor=self._actor(),
            )
        except DomainError as error:
            self.settings_error = error.message
            return None
        self.settings_saved = "Payout settings saved."
        self._show(found.merchant_id)
        return rx.set_value("bank_account_number", "")

"""The settlements page's display values: a balance row per currency (`CurrencyBalance`), a row
per payout (`Settlement`) and the payout schedule's lines (`PayoutSettings`). Every number is
the selectors'; this module only formats. Pure functions without Reflex."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from paybridge.display import format_local
from paybridge.models import Settlement
from paybridge.money import format_money
from paybridge.selectors.balances import CurrencyBalance
from paybridge.views.labels import PAYOUT_COLORS


@dataclass(frozen=True)
class BalanceRow:
    """One currency's balances and whether it can be withdrawn."""

    currency: str  # CurrencyBalance.currency
    available: str  # CurrencyBalance.available
    pending: str  # CurrencyBalance.pending
    can_withdraw: bool  # CurrencyBalance.available > 0


@dataclass(frozen=True)
class PayoutRow:
    """One payout of the history table."""

    reference: str  # Settlement.reference
    amount: str  # Settlement.amount in its currency
    status: str  # Settlement.status
    color: str  # the status's badge colour
    bank: str  # Settlement.bank_account (masked when it was made)
    created: str  # Settlement.created_at in the merchant's timezone
    completed: str  # Settlement.completed_at, "" until it completes
    reason: str  # Settlement.failure_reason of a failed payout, else ""


def balance_row(balance: CurrencyBalance) -> BalanceRow:
    return BalanceRow(
        currency=balance.currency,
        available=format_money(balance.available, balance.currency),
        pending=format_money(balance.pending, balance.currency),
        can_withdraw=balance.available > 0,
    )


def payout_row(payout: Settlement, tz: str) -> PayoutRow:
    return PayoutRow(
        reference=payout.reference,
        amount=format_money(payout.amount, payout.currency),
        status=payout.status,
        color=PAYOUT_COLORS.get(payout.status, "gray"),
        bank=payout.bank_account,
        created=format_local(payout.created_at, tz),
        completed=format_local(payout.completed_at, tz) if payout.completed_at else "",
        reason=payout.failure_reason or "",
    )


def next_payout_label(next_payout: date | None) -> str:
    """`PayoutSettings.next_payout` as the page says it."""
    return f"{next_payout:%A, %B %d}" if next_payout else "Manual: withdraw any time"


def hold_days_label(hold_days: int) -> str:
    """`PayoutSettings.hold_days` as the page says it."""
    return f"{hold_days} days"

"""views.settlements: the settlements page's balance and payout rows from the selectors'
CurrencyBalance and Settlement, and its payout schedule lines."""

from __future__ import annotations

from datetime import UTC, date, datetime

from paybridge.models import Settlement
from paybridge.selectors.balances import CurrencyBalance
from paybridge.views.settlements import (
    BalanceRow,
    PayoutRow,
    balance_row,
    hold_days_label,
    next_payout_label,
    payout_row,
)


def test_a_balance_can_be_withdrawn_only_when_something_is_available() -> None:
    assert balance_row(CurrencyBalance("USD", available=12_500, pending=300)) == BalanceRow(
        currency="USD", available="$125.00", pending="$3.00", can_withdraw=True
    )
    assert not balance_row(CurrencyBalance("EUR", available=0, pending=100)).can_withdraw
    assert not balance_row(CurrencyBalance("EUR", available=-50, pending=0)).can_withdraw


def test_a_payout_row_in_the_merchants_timezone() -> None:
    failed = Settlement(
        merchant_id=1,
        amount=5_000,
        currency="USD",
        status="failed",
        reference="po_1",
        bank_account="•••• 6789",
        failure_reason="Account closed",
        created_at=datetime(2026, 3, 1, 23, 30, tzinfo=UTC),
    )
    assert payout_row(failed, "Africa/Lagos") == PayoutRow(
        reference="po_1",
        amount="$50.00",
        status="failed",
        color="red",
        bank="•••• 6789",
        created="Mar 02, 00:30",
        completed="",
        reason="Account closed",
    )
    done = Settlement(
        merchant_id=1,
        amount=5_000,
        currency="USD",
        status="completed",
        reference="po_2",
        created_at=datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
        completed_at=datetime(2026, 3, 2, 9, 5, tzinfo=UTC),
    )
    row = payout_row(done, "UTC")
    assert (row.completed, row.reason, row.bank, row.color) == ("Mar 02, 09:05", "", "", "green")


def test_schedule_lines() -> None:
    assert next_payout_label(date(2026, 3, 6)) == "Friday, March 06"
    assert next_payout_label(None) == "Manual: withdraw any time"
    assert hold_days_label(7) == "7 days"

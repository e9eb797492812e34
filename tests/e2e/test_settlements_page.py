"""`/settlements` in a real browser: balances, withdraw, payout schedule, history."""

from __future__ import annotations

import calendar
from datetime import datetime
from zoneinfo import ZoneInfo

from paybridge.db import read_session
from paybridge.money import format_money
from paybridge.selectors.balances import balances
from tests.e2e.conftest import login


def test_settlements_page(browser, app, merchants):
    bravo = merchants.bravo
    page = login(browser, app, bravo.email, merchants.password, next_path="/settlements")
    with read_session() as session:
        usd = next(
            b for b in balances(session=session, merchant_id=bravo.id) if b.currency == "USD"
        )
    page.wait_for_selector(f"#available-USD:has-text('{format_money(usd.available, 'USD')}')")

    # Monthly on the 31st pays out on the month's last day, in the merchant's timezone.
    page.select_option("#schedule", "monthly")
    page.select_option("#day_of_month", "31")
    page.fill("#bank_account_number", "12")
    page.click("#settings-submit")
    page.wait_for_selector("#settings-error:has-text('bank account number')")
    page.fill("#bank_account_number", "GB29 NWBK 6016 1331 9268 19")
    page.click("#settings-submit")
    page.wait_for_selector("text=Payout settings saved.")
    page.wait_for_selector("#bank-account:has-text('6819')")
    today = datetime.now(ZoneInfo(bravo.timezone)).date()
    last = calendar.monthrange(today.year, today.month)[1]
    if today.day < last:
        expected = today.replace(day=last)
    else:
        year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
        expected = today.replace(year=year, month=month, day=calendar.monthrange(year, month)[1])
    page.wait_for_selector(f"#next-payout:has-text('{expected:%B %d}')")

    # Withdraw from this page; the payout appears in the history.
    page.click("#withdraw-USD")
    page.fill("#withdraw-amount", "1.25")
    page.click("#withdraw-submit")
    page.wait_for_selector("#withdraw-result:has-text('Payout po_')")
    reference = page.inner_text("#withdraw-result").split()[1]
    page.keyboard.press("Escape")
    page.reload()
    page.wait_for_selector(f"#payouts-body >> text={reference}")
    row = page.locator(".payout-row", has_text=reference)
    assert "$1.25" in row.inner_text() and "6819" in row.inner_text()
    after = format_money(usd.available - 125, "USD")
    page.wait_for_selector(f"#available-USD:has-text('{after}')")


def test_two_tabs_withdrawing_more_than_half_at_once_one_wins(browser, app, merchants):
    """Two tabs of one merchant press Withdraw in the same moment, each for 60 % of the
    balance: one payout is made, the other tab shows the insufficient-funds message."""
    from sqlmodel import select

    from paybridge.models import Provider
    from tests.conftest import create_merchant, seed_available

    charlie = create_merchant("charlie@example.com", timezone="UTC")
    with read_session() as session:
        card = session.exec(select(Provider).where(Provider.code == "card")).one()
    seed_available(charlie.id, card, 10_000, days_ago=12)  # $100.00 available
    tabs = [
        login(browser, app, charlie.email, merchants.password, next_path="/settlements")
        for _ in range(2)
    ]
    for tab in tabs:
        tab.wait_for_selector("#available-USD:has-text('$100.00')")
        tab.click("#withdraw-USD")
        tab.fill("#withdraw-amount", "60.00")
    for tab in tabs:  # both events leave before either is answered
        tab.evaluate("document.querySelector('#withdraw-submit').click()")
    outcomes = []
    for tab in tabs:
        tab.wait_for_selector("#withdraw-result:has-text('Payout po_'), #withdraw-error")
        won = tab.locator("#withdraw-result:has-text('Payout po_')").count() == 1
        outcomes.append("won" if won else tab.inner_text("#withdraw-error"))
    assert sorted(outcomes, key=str) == sorted(
        ["won", "Only $40.00 is available to withdraw."], key=str
    ), outcomes
    with read_session() as session:
        usd = next(b for b in balances(session=session, merchant_id=charlie.id))
    assert usd.available == 4_000

"""The live dashboard in a real browser: numbers equal the selectors', live updates, withdraw."""

from __future__ import annotations

import re

from sqlmodel import select, update

from paybridge.browser import SESSION_COOKIE
from paybridge.db import read_session, utcnow, write_session
from paybridge.display import format_bp, format_count
from paybridge.models import AuthSession, Settlement
from paybridge.money import format_money
from paybridge.selectors.analytics import dashboard_metrics, merchant_currencies
from paybridge.selectors.balances import balances
from paybridge.selectors.periods import period_last_days
from paybridge.services.auth import hash_token
from paybridge.services.transactions import transaction_create, transaction_update_status
from paybridge.state.dashboard import DashboardState
from paybridge.state.dashboard_pace import CHART_INTERVAL
from paybridge.state.live import AUTH_RECHECK
from tests.e2e.conftest import login

LIVE_TIMEOUT = 10_000  # ms; the bus delivers in well under a second, the relay polls at 250 ms


def pay(
    merchant_id: int,
    amount: int,
    customer_email: str,
    *,
    currency: str = "USD",
    status: str = "pending",
):
    """A card payment committed through the service while the dashboard is open."""
    return transaction_create(
        merchant_id=merchant_id,
        amount=amount,
        currency=currency,
        provider="card",
        customer_email=customer_email,
        status=status,
    )


def revoke_quietly(page) -> None:  # type: ignore[no-untyped-def]
    """Revoke the page's session in the database without any announcement: only the live
    check every AUTH_RECHECK can notice."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    with write_session() as session:
        session.exec(
            update(AuthSession)
            .where(AuthSession.token_hash == hash_token(token))
            .values(revoked_at=utcnow())
        )
        session.commit()


def _expected(merchant_id: int, tz: str):
    with read_session() as session:
        currency = merchant_currencies(session=session, merchant_id=merchant_id)[0]
        metrics = dashboard_metrics(
            session=session,
            merchant_id=merchant_id,
            currency=currency,
            period=period_last_days(30, tz),
        )
        money = {b.currency: b for b in balances(session=session, merchant_id=merchant_id)}
    return currency, metrics, money[currency]


def test_dashboard_shows_the_selectors_numbers(browser, app, merchants):
    alpha = merchants.alpha
    page = login(browser, app, alpha.email, merchants.password)
    page.wait_for_selector("#feed-live")
    currency, metrics, balance = _expected(alpha.id, alpha.timezone)
    now = metrics.current
    assert page.inner_text("#total-transactions") == format_count(now.total_transactions)
    assert page.inner_text("#total-volume") == format_money(now.total_volume, currency)
    assert page.inner_text("#success-rate") == format_bp(now.success_rate_bp)
    assert page.inner_text("#average-transaction") == format_money(
        now.average_transaction, currency
    )
    assert page.inner_text("#balance-available") == format_money(balance.available, currency)
    assert page.inner_text("#balance-pending") == format_money(balance.pending, currency)
    for share in metrics.statuses:
        assert page.inner_text(f"#status-{share.status}") == format_count(share.count)
    # Both charts are drawn from the state's figure dicts: one area trace, one bar per provider.
    page.wait_for_selector(".js-plotly-plot .scatterlayer .js-fill")
    assert page.locator(".js-plotly-plot .barlayer .point").count() == len(metrics.providers)
    # Another merchant's data never shows.
    body = page.inner_text("body")
    assert "Bravo Goods" not in body and "bravo.payer@example.com" not in body


def test_a_new_payment_appears_without_reload(browser, app, merchants):
    alpha = merchants.alpha
    page = login(browser, app, alpha.email, merchants.password)
    page.wait_for_selector("#feed-live")
    currency, metrics, _ = _expected(alpha.id, alpha.timezone)
    before_total = metrics.current.total_transactions
    feed_before = page.locator(".feed-item").count()

    tx = pay(alpha.id, 12_345, "live.shopper@example.com", currency=currency)
    page.wait_for_selector(f"#recent-body >> text={tx.reference}", timeout=LIVE_TIMEOUT)
    page.wait_for_selector(
        f"#total-transactions:has-text('{format_count(before_total + 1)}')", timeout=LIVE_TIMEOUT
    )
    page.wait_for_selector("#feed >> text=live.shopper@example.com", timeout=LIVE_TIMEOUT)
    assert page.locator(".feed-item").count() >= min(feed_before + 1, 25)

    transaction_update_status(merchant_id=alpha.id, reference=tx.reference, status="success")
    row = page.locator(".recent-row", has_text=tx.reference)
    row.locator("text=success").wait_for(timeout=LIVE_TIMEOUT)

    # Bravo's open dashboard never shows Alpha's payment.
    bravo_page = login(browser, app, merchants.bravo.email, merchants.password)
    bravo_page.wait_for_selector("#feed-live")
    pay(alpha.id, 777, "alpha.only@example.com", currency=currency)
    page.wait_for_selector("#feed >> text=alpha.only@example.com", timeout=LIVE_TIMEOUT)
    bravo_page.wait_for_timeout(1000)
    assert "alpha.only@example.com" not in bravo_page.inner_text("body")
    assert tx.reference not in bravo_page.inner_text("body")


def test_charts_follow_a_stream_of_payments(browser, app, merchants):
    """While payments stream in, the charts are redrawn at most every CHART_INTERVAL, but the
    redraw held back is made: the chart ends up showing the last payment, not the first."""
    alpha = merchants.alpha
    page = login(browser, app, alpha.email, merchants.password)
    page.wait_for_selector("#feed-live")
    page.wait_for_selector("#daily-chart .js-plotly-plot .scatterlayer .js-fill")
    drawn = (
        "() => document.querySelector('#daily-chart .js-plotly-plot').data[0].y"
        ".reduce((total, volume) => total + volume, 0)"
    )
    before = page.evaluate(drawn)
    currency = _expected(alpha.id, alpha.timezone)[0]
    amounts = [1_111, 2_222, 3_333]
    for amount in amounts:
        tx = pay(alpha.id, amount, "chart.shopper@example.com", currency=currency, status="success")
        page.wait_for_selector(f"#recent-body >> text={tx.reference}", timeout=LIVE_TIMEOUT)
    page.wait_for_function(
        f"() => ({drawn})() === {before + sum(amounts)}",
        timeout=CHART_INTERVAL * 1000
        + 5_000,  # less than the 15 s reconcile that would hide a lost redraw
    )


def test_logging_out_in_another_tab_stops_the_dashboard(browser, app, merchants):
    """An open dashboard goes to the login page as soon as its session ends elsewhere (here:
    /logout in a second tab of the same browser): the logout is announced and the tab follows
    its session (state/access.py). Were the announcement missed (a session revoked behind its
    back), its listener still stops showing the merchant's payments within AUTH_RECHECK."""
    alpha = merchants.alpha
    page = login(browser, app, alpha.email, merchants.password)
    page.wait_for_selector("#feed-live")
    other_tab = page.context.new_page()
    other_tab.goto(f"{app.url}/logout")
    other_tab.wait_for_url(re.compile(r".*/login.*"), timeout=30_000)
    page.wait_for_url(re.compile(r".*/login.*"), timeout=2_000)
    page.context.close()

    page = login(browser, app, alpha.email, merchants.password)
    page.wait_for_selector("#feed-live")
    revoke_quietly(page)
    page.wait_for_timeout(AUTH_RECHECK * 1000 + 500)
    after = pay(alpha.id, 4_242, "after.logout@example.com")
    page.wait_for_selector("#feed-paused", timeout=LIVE_TIMEOUT)
    page.wait_for_timeout(1000)
    assert after.reference not in page.inner_text("body")
    page.context.close()


def test_withdraw_end_to_end(browser, app, merchants):
    bravo = merchants.bravo
    page = login(browser, app, bravo.email, merchants.password)
    page.wait_for_selector("#feed-live")
    available_text = page.inner_text("#balance-available")
    available = int(re.sub(r"[^0-9]", "", available_text))  # minor units, USD
    assert available > 0

    page.click("#withdraw-open")
    page.fill("#withdraw-amount", "1000000.00")
    page.click("#withdraw-submit")
    page.wait_for_selector("#withdraw-error:has-text('is available to withdraw')")
    page.fill("#withdraw-amount", "12.5x")
    page.click("#withdraw-submit")
    page.wait_for_selector("#withdraw-error:has-text('Not a decimal amount')")

    with read_session() as session:
        count_before = len(
            session.exec(select(Settlement).where(Settlement.merchant_id == bravo.id)).all()
        )
    page.fill("#withdraw-amount", "100.00")
    page.click("#withdraw-submit")
    page.wait_for_selector("#withdraw-result:has-text('Payout po_')")
    page.click("#withdraw-submit", force=True)  # disabled after success: no second payout
    expected = format_money(available - 10_000, "USD")
    page.wait_for_selector(f"#balance-available:has-text('{expected}')", timeout=LIVE_TIMEOUT)
    with read_session() as session:
        rows = session.exec(select(Settlement).where(Settlement.merchant_id == bravo.id)).all()
    assert len(rows) == count_before + 1
    assert rows[-1].amount == 10_000 and rows[-1].currency == "USD"


def test_dashboard_catches_up_after_a_network_drop(browser, app, merchants):
    alpha = merchants.alpha
    page = login(browser, app, alpha.email, merchants.password)
    page.wait_for_selector("#feed-live")
    page.context.set_offline(True)
    page.wait_for_selector(
        "#connection:has-text('reconnecting'), #connection:has-text('offline')", timeout=30_000
    )
    missed = pay(alpha.id, 9_999, "while.offline@example.com")
    page.wait_for_timeout(1000)
    page.context.set_offline(False)
    page.wait_for_selector("#connection:has-text('live')", timeout=30_000)
    page.wait_for_selector(f"#recent-body >> text={missed.reference}", timeout=LIVE_TIMEOUT)
    page.wait_for_selector("#feed >> text=while.offline@example.com", timeout=LIVE_TIMEOUT)
    # and it is live again, not only caught up: the reconnected socket has a listener
    after = pay(alpha.id, 7_777, "after.reconnect@example.com")
    page.wait_for_selector(f"#recent-body >> text={after.reference}", timeout=LIVE_TIMEOUT)


def test_a_filter_change_keeps_the_dashboard_live(browser, app, merchants):
    """Tabs showing other filters follow other streams: after picking 7 days the tab leaves
    the 30-day stream, and the next payment still reaches its table and its 7-day numbers."""
    alpha = merchants.alpha
    page = login(browser, app, alpha.email, merchants.password)
    page.wait_for_selector("#feed-live")
    period_before = page.inner_text("#period")
    page.click("#range >> text=7 days")
    page.wait_for_function(
        f"() => document.querySelector('#period').innerText !== {period_before!r}"
    )
    with read_session() as session:
        currency = merchant_currencies(session=session, merchant_id=alpha.id)[0]
        week = dashboard_metrics(
            session=session,
            merchant_id=alpha.id,
            currency=currency,
            period=period_last_days(7, alpha.timezone),
        ).current.total_transactions
    page.wait_for_selector(f"#total-transactions:has-text('{format_count(week)}')")
    tx = pay(alpha.id, 4_321, "week.shopper@example.com", currency=currency)
    page.wait_for_selector(f"#recent-body >> text={tx.reference}", timeout=LIVE_TIMEOUT)
    page.wait_for_selector(
        f"#total-transactions:has-text('{format_count(week + 1)}')", timeout=LIVE_TIMEOUT
    )


def test_a_signed_out_tab_leaves_a_shared_stream_its_sibling_stays(browser, app, merchants):
    """Two tabs of one merchant on one worker share one stream; the session of one is revoked
    behind its back: it stops getting the merchant's payments within AUTH_RECHECK while the
    other, still signed in, goes on getting them."""
    alpha = merchants.alpha
    kept = login(browser, app, alpha.email, merchants.password)
    revoked = login(browser, app, alpha.email, merchants.password)  # its own browser context
    for page in (kept, revoked):
        page.wait_for_selector("#feed-live")
    revoke_quietly(revoked)
    revoked.wait_for_timeout(AUTH_RECHECK * 1000 + 500)
    after = pay(alpha.id, 5_151, "sibling.shopper@example.com")
    kept.wait_for_selector(f"#recent-body >> text={after.reference}", timeout=LIVE_TIMEOUT)
    revoked.wait_for_selector("#feed-paused", timeout=LIVE_TIMEOUT)
    revoked.wait_for_timeout(1000)
    assert after.reference not in revoked.inner_text("body")
    for page in (kept, revoked):
        page.context.close()


def test_a_tab_that_leaves_the_dashboard_gets_no_more_of_its_frames(browser, app, merchants):
    """The stream sends frames straight to a tab's socket, which stays open across client-side
    navigation: once the tab shows another page, its dashboard stream stops writing to it —
    also when its listener was started by a filter change rather than by the page load (Reflex
    ends a page load's unfinished chain on navigation, not a click's)."""
    alpha = merchants.alpha
    page = login(browser, app, alpha.email, merchants.password, next_path="/settings")
    tab = page.context.new_page()  # a socket opened after the listener is attached
    frames: list[str] = []
    tab.on("websocket", lambda ws: ws.on("framereceived", lambda data: frames.append(str(data))))
    tab.goto(app.url)
    tab.wait_for_selector("#feed-live")
    period = tab.inner_text("#period")
    tab.click("#range >> text=7 days")  # its stream now follows a click, not the page load
    tab.wait_for_function(f"() => document.querySelector('#period').innerText !== {period!r}")
    dashboard = DashboardState.get_full_name()
    seen = pay(alpha.id, 3_131, "still.here@example.com")
    tab.wait_for_selector(f"#recent-body >> text={seen.reference}", timeout=LIVE_TIMEOUT)
    assert any(dashboard in f and seen.reference in f for f in frames)  # the control

    tab.click(".site-nav >> text=Transactions")
    tab.wait_for_url(re.compile(r".*/transactions/?$"))
    tab.wait_for_selector("#tx-live", timeout=30_000)
    gone = pay(alpha.id, 3_232, "gone.away@example.com")
    tab.wait_for_timeout(2_000)  # ample: the dashboard's frames came within LIVE_TIMEOUT above
    assert not [f for f in frames if dashboard in f and gone.reference in f]
    page.context.close()

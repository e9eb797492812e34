"""`/transactions` and the payment detail page in a real browser: filters, search, sorting and
paging equal the selectors'; filters live in the URL and in saved views; new payments show as
a banner instead of moving rows, and a payment's change in its row; the CSV export of a
filtered list equals the public API's list for the same filters row for row; a refund from the
detail page updates an open dashboard live.
"""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from paybridge.db import read_session, utcnow
from paybridge.money import exponent, format_money
from paybridge.selectors.analytics import merchant_currencies
from paybridge.selectors.balances import balances
from paybridge.selectors.pagination import PageRequest
from paybridge.selectors.transactions import (
    TransactionFilters,
    transactions_count,
    transactions_page,
)
from paybridge.services.api_keys import api_key_create
from paybridge.services.refunds import transaction_refund
from paybridge.services.transactions import transaction_create
from paybridge.transaction_query import parse_query
from tests.e2e.conftest import login

LIVE_TIMEOUT = 10_000


def visible_refs(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.strip() for c in page.locator(".tx-row code").all_inner_texts()]


def wait_refs(page, expected: list[str], timeout: int = 15_000) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(
        "(want) => JSON.stringify([...document.querySelectorAll('.tx-row code')]"
        ".map(e => e.innerText.trim())) === JSON.stringify(want)",
        arg=expected,
        timeout=timeout,
    )


def wait_text(page, selector: str, text: str, timeout: int = LIVE_TIMEOUT) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(
        "([sel, want]) => document.querySelector(sel)?.innerText.trim() === want",
        arg=[selector, text],
        timeout=timeout,
    )


def selector_page(merchant, query: dict, *, after: str | None = None) -> list[str]:  # type: ignore[no-untyped-def]
    parsed = parse_query(query)
    with read_session() as session:
        result = transactions_page(
            session=session,
            merchant_id=merchant.id,
            page=PageRequest(limit=25, starting_after=after),
            filters=parsed.to_filters(merchant.timezone),
            sort=parsed.sort,
        )
    return [r.reference for r in result.data]


def test_filter_search_sort_paginate_and_keep_it_in_the_url(browser, app, merchants):
    alpha = merchants.alpha
    page = login(browser, app, alpha.email, merchants.password, next_path="/transactions")
    page.wait_for_selector("#tx-live")
    with read_session() as session:
        total = transactions_count(session=session, merchant_id=alpha.id)
    assert page.inner_text("#tx-total") == f"{total:,} payments"
    wait_refs(page, selector_page(alpha, {}))

    # Filters: status, provider, currency.
    with read_session() as session:
        currency = merchant_currencies(session=session, merchant_id=alpha.id)[0]
    page.select_option("#filter-status", "success")
    page.select_option("#filter-provider", "card")
    page.select_option("#filter-currency", currency)
    page.click("#filter-apply")
    query = {"status": "success", "provider": "card", "currency": currency}
    page.wait_for_function("location.search.includes('status=success')")
    first = selector_page(alpha, query)
    assert len(first) == 25
    wait_refs(page, first)
    assert set(page.locator(".tx-row .rt-Badge").all_inner_texts()) == {"success"}

    # Next and previous pages are the selector's keyset pages.
    page.click("#page-next")
    second = selector_page(alpha, query, after=first[-1])
    wait_refs(page, second)
    page.click("#page-previous")
    wait_refs(page, first)

    # Sorting by amount, then reversing it.
    page.click("#sort-amount")
    page.wait_for_function("location.search.includes('sort=amount_desc')")
    wait_refs(page, selector_page(alpha, {**query, "sort": "amount_desc"}))
    page.click("#sort-amount")
    wait_refs(page, selector_page(alpha, {**query, "sort": "amount_asc"}))

    # Search by a reference prefix, in another case.
    target = first[3]
    page.fill("#filter-q", target[:10].upper())
    page.click("#filter-apply")
    searched = selector_page(alpha, {**query, "q": target[:10], "sort": "amount_asc"})
    assert target in searched
    wait_refs(page, searched)

    # The URL holds the view: a reload (or a shared link) shows the same rows and filters.
    page.wait_for_function(
        "location.search.includes('q=TXN_') && location.search.includes('sort=amount_asc')"
    )
    page.reload()
    page.wait_for_selector("#tx-live")
    wait_refs(page, searched)
    assert page.input_value("#filter-q") == target[:10].upper()
    assert page.input_value("#filter-status") == "success"

    # A saved view brings the filters back after clearing them.
    page.fill("#view-name", "Card successes")
    page.click("#view-save")
    page.wait_for_selector(".view-apply:has-text('Card successes')")
    page.click("#filter-clear")
    page.wait_for_function("location.search === '?sort=amount_asc'")
    wait_refs(page, selector_page(alpha, {"sort": "amount_asc"}))
    page.click(".view-apply:has-text('Card successes')")
    page.wait_for_function("location.search.includes('q=TXN_')")
    wait_refs(page, searched)
    page.locator(".view-item", has_text="Card successes").locator(".view-delete").click()
    page.wait_for_selector(".view-apply:has-text('Card successes')", state="detached")

    # A row opens the payment's page.
    page.click(f".tx-row a:has-text('{searched[0]}')")
    page.wait_for_url(re.compile(re.escape(f"/transactions/{searched[0]}") + "$"))
    wait_text(page, "#payment-reference", searched[0])
    page.go_back()
    wait_refs(page, searched)

    # Bad filters in a link are reported, not a crash.
    page.goto(f"{app.url}/transactions?status=bogus")
    page.wait_for_selector("#filter-error")
    page.context.close()


def test_new_payments_show_as_a_banner_not_as_moving_rows(browser, app, merchants):
    alpha = merchants.alpha
    page = login(browser, app, alpha.email, merchants.password, next_path="/transactions")
    page.goto(f"{app.url}/transactions?status=pending")
    page.wait_for_selector("#tx-live")
    before = selector_page(alpha, {"status": "pending"})
    wait_refs(page, before)

    made = [
        transaction_create(
            merchant_id=alpha.id,
            amount=4_200,
            currency="USD",
            provider="card",
            customer_email=f"banner{n}@example.com",
        )
        for n in range(2)
    ]
    transaction_create(  # does not match the filter: not counted
        merchant_id=alpha.id,
        amount=4_200,
        currency="USD",
        provider="card",
        customer_email="banner-failed@example.com",
        status="failed",
    )
    page.wait_for_selector("#new-count:has-text('2 new payments')", timeout=LIVE_TIMEOUT)
    assert visible_refs(page) == before  # nothing moved
    page.click("#new-show")
    wait_refs(page, [made[1].reference, made[0].reference, *before][:25])
    page.wait_for_selector("#new-banner", state="detached")
    page.context.close()


def test_a_refund_changes_its_visible_row_live_in_place(browser, app, merchants):
    """A payment's event updates its row on an open list at once, without a reload or a move."""
    alpha = merchants.alpha
    page = login(browser, app, alpha.email, merchants.password, next_path="/transactions")
    page.goto(f"{app.url}/transactions?status=success")
    page.wait_for_selector("#tx-live")
    shown = selector_page(alpha, {"status": "success"})
    wait_refs(page, shown)
    with read_session() as session:
        rows = transactions_page(
            session=session,
            merchant_id=alpha.id,
            page=PageRequest(limit=25),
            filters=TransactionFilters(status="success"),
        ).data
    payment = next(p for p in rows if p.amount >= 1_000 and not p.refunded_amount)

    transaction_refund(merchant_id=alpha.id, reference=payment.reference, amount=100)
    refunded = f"{format_money(100, payment.currency)} refunded"
    row = page.locator(".tx-row", has_text=payment.reference)
    row.get_by_text(refunded).wait_for(timeout=LIVE_TIMEOUT)
    assert visible_refs(page) == shown  # changed where it stands
    page.context.close()


def _api_list(app, secret: str, params: dict) -> list[dict]:  # type: ignore[no-untyped-def]
    items: list[dict] = []
    after = None
    while True:
        query = {**params, "limit": 100, **({"starting_after": after} if after else {})}
        request = urllib.request.Request(
            f"{app.url}/api/v1/transactions?{urllib.parse.urlencode(query)}",
            headers={"Authorization": f"Bearer {secret}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
        items += body["data"]
        if not body["has_more"]:
            return items
        after = body["data"][-1]["reference"]


def test_export_of_a_filtered_set_equals_the_api_list(browser, app, merchants, tmp_path):
    alpha = merchants.alpha
    tz = ZoneInfo(alpha.timezone)
    with read_session() as session:
        currency = merchant_currencies(session=session, merchant_id=alpha.id)[-1]
    local_from = (utcnow() - timedelta(days=20)).astimezone(tz).replace(second=0, microsecond=0)
    local_to = local_from + timedelta(days=9, hours=5, minutes=30)
    query = {
        "status": "success",
        "currency": currency,
        "from": local_from.strftime("%Y-%m-%dT%H:%M"),
        "to": local_to.strftime("%Y-%m-%dT%H:%M"),
    }
    page = login(browser, app, alpha.email, merchants.password, next_path="/transactions")
    page.goto(f"{app.url}/transactions?{urllib.parse.urlencode(query)}")
    page.wait_for_selector("#tx-live")
    with page.expect_download(timeout=60_000) as info:
        page.click("#export-csv")
    path = tmp_path / "export.csv"
    info.value.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    page.wait_for_selector(f"#export-message:has-text('Exported {len(rows):,} rows')")

    secret = api_key_create(merchant_id=alpha.id, name="export check")[1]
    listed = _api_list(
        app,
        secret,
        {
            "status": "success",
            "currency": currency,
            "created_gte": local_from.astimezone(ZoneInfo("UTC")).isoformat(),
            "created_lt": local_to.astimezone(ZoneInfo("UTC")).isoformat(),
        },
    )
    assert len(rows) == len(listed) > 25  # the whole set, not the visible page
    created = f"created_at ({alpha.timezone})"
    scale = 10 ** exponent(currency)
    for row, item in zip(rows, listed, strict=True):
        assert row["reference"] == item["reference"]
        assert row["status"] == item["status"] == "success"
        assert row["currency"] == item["currency"] == currency
        assert Decimal(row["amount"]) * scale == item["amount"]
        assert Decimal(row["fee"]) * scale == item["fee"]
        assert Decimal(row["net"]) * scale == item["net_amount"]
        assert row["provider"] == item["provider"]
        assert row["customer_email"] == item["customer_email"]
        local = datetime.fromisoformat(row[created])
        assert local.utcoffset() == local.astimezone(tz).utcoffset()  # labelled local time
        api_time = datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
        assert local == api_time.replace(microsecond=0)
    page.context.close()


def test_refund_from_the_detail_page_updates_an_open_dashboard(browser, app, merchants):
    alpha = merchants.alpha
    with read_session() as session:
        currency = merchant_currencies(session=session, merchant_id=alpha.id)[0]
        candidates = transactions_page(
            session=session,
            merchant_id=alpha.id,
            page=PageRequest(limit=50),
            filters=TransactionFilters(status="success", currency=currency),
        ).data
    payment = next(p for p in candidates if p.amount >= 2_000 and not p.refunded_amount)

    dashboard = login(browser, app, alpha.email, merchants.password)
    dashboard.wait_for_selector("#feed-live")

    detail = login(browser, app, alpha.email, merchants.password, next_path="/transactions")
    detail.goto(f"{app.url}/transactions/{payment.reference}")
    detail.wait_for_selector("#payment-reference")
    assert detail.inner_text("#payment-amount") == format_money(payment.amount, currency)
    assert "Fee charged" in detail.inner_text("#payment-fees")

    part = Decimal(payment.amount // 4) / 10 ** exponent(currency)
    detail.fill("#refund-amount", str(part))
    detail.click("#refund-open")
    detail.wait_for_selector("#refund-confirm-text")
    assert "partial refund" in detail.inner_text("#refund-confirm-text")
    detail.click("#refund-confirm")
    detail.wait_for_selector("#refund-done")
    detail.wait_for_selector(".timeline-item:has-text('Partially refunded')")
    assert detail.inner_text("#payment-status").strip() == "success"

    with read_session() as session:
        after = {b.currency: b for b in balances(session=session, merchant_id=alpha.id)}[currency]
    for selector, amount in (
        ("#balance-available", after.available),
        ("#balance-pending", after.pending),
    ):
        wait_text(dashboard, selector, format_money(amount, currency))
    refunded = format_money(payment.amount // 4, currency)
    dashboard.wait_for_selector(f"#feed >> text=Refunded {refunded}", timeout=LIVE_TIMEOUT)

    # Refund the rest: the payment becomes refunded and the form goes away.
    detail.click("#refund-open")  # the amount field now holds what is left
    detail.wait_for_selector("#refund-confirm-text:has-text('whole remaining amount')")
    detail.click("#refund-confirm")
    detail.wait_for_selector(".timeline-item:has-text('Refunded in full')")
    assert re.search("refunded", detail.inner_text("#payment-status"))
    detail.wait_for_selector("#refund-open", state="detached")
    dashboard.wait_for_selector("#feed >> text=(in full)", timeout=LIVE_TIMEOUT)
    dashboard.context.close()
    detail.context.close()


def _alpha_state(alpha_id: int) -> dict:
    import sqlalchemy as sa

    from paybridge.engine import get_engine

    with get_engine().connect() as conn:

        def rows(sql: str) -> list:
            return [tuple(r) for r in conn.execute(sa.text(sql), {"m": alpha_id})]

        return {
            "refunds": rows("SELECT count(*), sum(amount) FROM refunds WHERE merchant_id = :m"),
            "payments": rows(
                "SELECT count(*), sum(refunded_amount) FROM transactions WHERE merchant_id = :m"
            ),
            "views": rows("SELECT id, name, query FROM saved_views WHERE merchant_id = :m"),
        }


def test_forged_explorer_events_never_touch_another_merchant(app, merchants):
    import time

    from paybridge.services.saved_views import saved_view_create
    from paybridge.state.payment import PaymentState
    from paybridge.state.transactions import TransactionsState
    from tests.conftest import web_session_token
    from tests.e2e.harness import ForgedClient

    alpha, bravo = merchants.alpha, merchants.bravo
    view = saved_view_create(merchant_id=alpha.id, name="Alpha secret view", query="status=failed")
    with read_session() as session:
        alpha_refs = [
            r.reference
            for r in transactions_page(
                session=session,
                merchant_id=alpha.id,
                page=PageRequest(limit=20),
                filters=TransactionFilters(status="success"),
            ).data
        ]
    before = _alpha_state(alpha.id)
    token = web_session_token(bravo.id)
    tx, pay = TransactionsState.get_full_name(), PaymentState.get_full_name()
    huge = "9" * 100_000
    client = ForgedClient(app.url, cookie=f"pb_session={token}")
    try:
        client.send(f"{tx}.load", {}, path="/transactions")
        for handler, payload in [
            (f"{tx}.apply_view", {"view_id": str(view.id)}),
            (f"{tx}.delete_view", {"view_id": str(view.id)}),
            (f"{tx}.delete_view", {"view_id": {"id": view.id}}),
            (f"{tx}.apply_filters", {"form": {"q": "txn", "merchant_id": alpha.id}}),
            (f"{tx}.apply_filters", {"form": {"q": huge}}),
            (f"{tx}.apply_filters", {"form": "status=success"}),
            (f"{tx}.sort_by", {"key": ["amount"]}),
            (f"{tx}.next_page", {"cursor": alpha_refs[3]}),
            (f"{tx}.save_view", {"form": {"view_name": huge}}),
            (f"{tx}._show", {"merchant_id": alpha.id}),
            (f"{tx}.start_export", {"merchant_id": alpha.id}),
        ]:
            client.send(handler, payload, path="/transactions")
        for ref in alpha_refs[:3]:
            path = f"/transactions/{ref}"
            client.send(f"{pay}.load", {}, path=path)
            client.send(f"{pay}.prepare_refund", {"form": {"amount": "1.00"}}, path=path)
            client.send(f"{pay}.confirm_refund", {}, path=path)
            client.send(f"{pay}.confirm_refund", {"amount": 100, "reference": ref}, path=path)
        time.sleep(3)
    finally:
        client.close()

    assert _alpha_state(alpha.id) == before
    sent = json.dumps(_without_router(client.updates))  # the paths Bravo sent come back there
    assert client.updates, "the server answered nothing: the test proves nothing"
    assert "bravo.payer@example.com" in sent  # Bravo's own list did load
    assert '"found_rx_state_": false' in sent and '"found_rx_state_": true' not in sent
    for secret in [*alpha_refs, "Alpha secret view", "alpha@example.com"]:
        assert secret not in sent


def _without_router(updates: list) -> list:
    """The updates minus the vars that echo the URL the client itself sent (router, current
    path, the dynamic route argument)."""

    def clean(value):  # type: ignore[no-untyped-def]
        if isinstance(value, dict):
            return {
                k: clean(v)
                for k, v in value.items()
                if not k.startswith(("rx_router", "payment_reference", "current_path"))
            }
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return clean(updates)

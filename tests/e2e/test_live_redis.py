"""Two Granian workers sharing state in Redis: every open tab of the merchant updates."""

from __future__ import annotations

from paybridge.services.transactions import transaction_create
from tests.e2e.conftest import login


def test_two_tabs_on_two_workers_both_update(browser, redis_app, merchants):
    alpha = merchants.alpha
    assert len(redis_app.worker_pids()) == 2
    tabs = [login(browser, redis_app, alpha.email, merchants.password) for _ in range(2)]
    for tab in tabs:
        tab.wait_for_selector("#feed-live", timeout=30_000)
    tx = transaction_create(
        merchant_id=alpha.id,
        amount=4_242,
        currency="USD",
        provider="stripe",
        customer_email="two.tabs@example.com",
    )
    for tab in tabs:
        tab.wait_for_selector(f"#recent-body >> text={tx.reference}", timeout=10_000)
        tab.wait_for_selector("#feed >> text=two.tabs@example.com", timeout=10_000)
    bravo = login(browser, redis_app, merchants.bravo.email, merchants.password)
    bravo.wait_for_selector("#feed-live", timeout=30_000)
    assert tx.reference not in bravo.inner_text("body")
    assert len(redis_app.worker_pids()) == 2

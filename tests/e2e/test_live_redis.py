"""Two Granian workers sharing state in Redis: every open tab of the merchant updates."""

from __future__ import annotations

import json
import os

import redis

from paybridge.events.bus import channel_for, reset_bus
from paybridge.services.transactions import transaction_create
from paybridge.settings import get_settings
from paybridge.state.dashboard_pace import RECONCILE_INTERVAL, RECONCILE_SPREAD
from tests.conftest import redis_test_url
from tests.e2e.conftest import login, post_payment_and_see_it
from tests.ops.topology import Instance


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


def test_a_payment_through_another_instance_reaches_the_open_dashboard(
    browser, redis_app, merchants, e2e_database, tmp_path
):
    """Two app instances over one PostgreSQL and Redis: a payment posted to the REST API of a
    second instance (its own processes and port) shows up on a dashboard served by the first."""
    alpha = merchants.alpha
    env = {**os.environ, "DATABASE_URL": e2e_database, "REDIS_URL": redis_test_url()}
    env.update(REFLEX_USE_SYSTEM_BUN="1", REFLEX_TELEMETRY_ENABLED="false", GRANIAN_WORKERS="1")
    env["PAYBRIDGE_SECRET_KEY"] = redis_app.secret  # one deployment, one secret
    other = Instance(env=env, log=tmp_path / "other-instance.log")
    try:
        other.wait_ready()
        tab = login(browser, redis_app, alpha.email, merchants.password)
        tab.wait_for_selector("#feed-live", timeout=30_000)
        post_payment_and_see_it(
            tab, other.url, alpha.id, amount=3_117, customer_email="other.instance@example.com"
        )
    finally:
        other.stop()


def test_an_unreadable_bus_message_does_not_stop_live_updates(browser, redis_app, merchants):
    """Anything can reach a Redis channel (an old worker during a rolling upgrade, a bug, a
    stray publisher): the dashboard skips what it cannot read and keeps following payments."""
    alpha = merchants.alpha
    tab = login(browser, redis_app, alpha.email, merchants.password)
    tab.wait_for_selector("#feed-live", timeout=30_000)
    publisher = redis.Redis.from_url(redis_test_url())
    try:
        for payload in ({"reference": "half-an-event"}, None, "text", {"amount": "NaN"}):
            message = {
                "id": 10**12,
                "merchant_id": alpha.id,
                "type": "transaction.created",
                "created_at": "2026-11-25T10:00:00+00:00",
            }
            publisher.publish(channel_for(alpha.id), json.dumps({**message, "payload": payload}))
        publisher.publish(channel_for(alpha.id), "not json")
    finally:
        publisher.close()
    tx = transaction_create(
        merchant_id=alpha.id,
        amount=1_234,
        currency="USD",
        provider="stripe",
        customer_email="after.garbage@example.com",
    )
    tab.wait_for_selector(f"#recent-body >> text={tx.reference}", timeout=10_000)
    tab.wait_for_selector("#feed >> text=after.garbage@example.com", timeout=10_000)
    assert "half-an-event" not in tab.inner_text("#recent-body")


def test_a_payment_whose_bus_message_is_lost_shows_at_the_reconcile(
    browser, redis_app, merchants, monkeypatch
):
    """Redis drops a message (here: the writer's publish fails after its commit, as when Redis
    is unreachable for a moment). The open dashboard has heard nothing, and its reconcile finds
    the merchant's newest event moved and reads the page again within its reconcile interval
    (RECONCILE_INTERVAL times at most RECONCILE_SPREAD's top)."""
    alpha = merchants.alpha
    tab = login(browser, redis_app, alpha.email, merchants.password)
    tab.wait_for_selector("#feed-live", timeout=30_000)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")  # nothing listens there
    get_settings.cache_clear()
    reset_bus()
    try:
        tx = transaction_create(
            merchant_id=alpha.id,
            amount=2_718,
            currency="USD",
            provider="stripe",
            customer_email="lost.message@example.com",
        )
    finally:
        monkeypatch.setenv("REDIS_URL", redis_test_url())
        get_settings.cache_clear()
        reset_bus()
    deadline_ms = (RECONCILE_INTERVAL * RECONCILE_SPREAD[1] + 10) * 1000
    tab.wait_for_selector(f"#recent-body >> text={tx.reference}", timeout=deadline_ms)
    tab.wait_for_selector("#feed >> text=lost.message@example.com", timeout=5_000)

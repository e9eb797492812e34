"""A slow handler holds up only its own tab. Reflex runs a plain event handler on the worker's
event loop, where every live dashboard of that worker would wait for its query (or its password
hash); ours run in a thread."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import make_url

from paybridge.services.transactions import transaction_create
from paybridge.state.dashboard import DashboardState
from paybridge.state.developers import DevelopersState
from tests.conftest import web_session_token
from tests.e2e.harness import ForgedClient


def _client(url: str, user_id: int) -> ForgedClient:
    token = web_session_token(user_id)
    return ForgedClient(url, cookie=f"pb_session={token}")


def _wait_for(client: ForgedClient, found: Callable[[str], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not any(found(json.dumps(update)) for update in list(client.updates)):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_query_waiting_on_one_tab_does_not_stall_another_tabs_live_dashboard(
    app, merchants, e2e_database
):
    dashboard = _client(app.url, merchants.alpha.id)
    developers = _client(app.url, merchants.bravo.id)
    developers_state = DevelopersState.get_name()  # how a delta names it
    locker = psycopg.connect(
        make_url(e2e_database).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        dashboard.send(f"{DashboardState.get_full_name()}.load", {})
        assert _wait_for(dashboard, lambda sent: "Alpha Traders" in sent, 30), "no dashboard"
        time.sleep(1.0)  # the listener subscribes after the first load

        # Only the developers page reads api_keys: its load waits on this lock.
        locker.execute("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE")
        developers.send(f"{DevelopersState.get_full_name()}.load", {}, path="/developers")
        time.sleep(1.0)
        payment = transaction_create(
            merchant_id=merchants.alpha.id,
            amount=4321,
            currency="USD",
            provider="card",
            customer_email="while-blocked@example.com",
        )
        shown = _wait_for(dashboard, lambda sent: payment.reference in sent, 5)
        assert not _wait_for(developers, lambda sent: developers_state in sent, 0), (
            "the developers load did not wait for the lock: the test proves nothing"
        )
        assert shown, "a payment did not reach a live dashboard while another tab's query waited"
    finally:
        locker.rollback()
        locker.close()
    try:
        assert _wait_for(developers, lambda sent: developers_state in sent, 15)
    finally:
        dashboard.close()
        developers.close()

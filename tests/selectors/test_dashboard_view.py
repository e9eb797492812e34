"""state.dashboard_reads.read_dashboard: a worker reads a merchant's dashboard once for all the tabs
that reload together, and never hands a tab a read that started before the event it heard."""

from __future__ import annotations

import dataclasses
import json
import threading
import time

import pytest
from reflex.state import State, StateUpdate
from reflex.utils import format as rx_format

from paybridge.models import User
from paybridge.services.transactions import transaction_create
from paybridge.state import dashboard_reads
from paybridge.state.dashboard import DashboardState
from paybridge.state.dashboard_pace import ReadPace
from paybridge.state.dashboard_reads import Filters, newest_event, read_dashboard
from paybridge.state.live import encode_event
from tests.conftest import TestDatabase, create_merchant

LAST_30_DAYS = Filters(range_key="30d", custom_from="", custom_to="", currency="USD")


def pay(merchant: User, amount: int) -> None:
    transaction_create(
        merchant_id=merchant.id,
        amount=amount,
        currency="USD",
        provider="card",
        customer_email="buyer@example.com",
        status="success",
    )


def total_transactions(view: dict) -> str:
    return next(c.value for c in view["cards"] if c.id == "total-transactions")


def test_a_reload_after_an_event_never_reuses_an_older_read(
    db: TestDatabase, merchant: User
) -> None:
    pay(merchant, 1_000)
    before = read_dashboard(merchant.id, LAST_30_DAYS, time.monotonic())
    assert before is not None and total_transactions(before) == "1"
    pay(merchant, 2_000)
    heard = time.monotonic()  # a tab hears the second payment now
    after = read_dashboard(merchant.id, LAST_30_DAYS, heard)
    assert after is not None and total_transactions(after) == "2"
    assert after["recent"][0].amount == "$20.00"
    # Another tab that heard the same event shares that read.
    assert read_dashboard(merchant.id, LAST_30_DAYS, heard) is after


def test_tabs_reloading_together_share_one_read(db: TestDatabase, merchant: User) -> None:
    pay(merchant, 1_500)
    heard = time.monotonic()
    start = threading.Barrier(8)
    views: list[object] = []

    def tab() -> None:
        start.wait()
        views.append(read_dashboard(merchant.id, LAST_30_DAYS, heard))

    threads = [threading.Thread(target=tab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(views) == 8
    assert len({id(view) for view in views}) == 1  # one read, eight tabs
    assert views[0] is not None


def test_another_merchant_or_filter_gets_its_own_read(db: TestDatabase, merchant: User) -> None:
    other_merchant = create_merchant("other@example.com")
    pay(merchant, 1_000)
    heard = time.monotonic()
    mine = read_dashboard(merchant.id, LAST_30_DAYS, heard)
    theirs = read_dashboard(other_merchant.id, LAST_30_DAYS, heard)
    today = read_dashboard(merchant.id, LAST_30_DAYS._replace(range_key="today"), heard)
    assert mine is not None and theirs is not None and today is not None
    assert total_transactions(mine) == "1" and total_transactions(theirs) == "0"
    assert today is not mine and today["period_label"] != mine["period_label"]


def test_the_reconcile_probe_sees_the_merchants_newest_event_only(
    db: TestDatabase, merchant: User
) -> None:
    other_merchant = create_merchant("other@example.com")
    assert newest_event(merchant.id) is None
    pay(merchant, 1_000)
    mine = newest_event(merchant.id)
    assert mine is not None
    pay(other_merchant, 1_000)
    assert newest_event(merchant.id) == mine  # another merchant's payment moves nothing here
    pay(merchant, 2_000)
    newer = newest_event(merchant.id)
    assert newer is not None and newer > mine


def test_a_read_after_payments_leaves_the_panels_out_and_takes_a_whole_read_if_fresh(
    db: TestDatabase, merchant: User
) -> None:
    """No payment changes the health panel or the profile card: a live read after payments
    (`whole=False`) shows the numbers and rows without them; a whole read started after the
    event serves it too, and a partial read never stands in for a whole one."""
    pay(merchant, 1_000)
    heard = time.monotonic()
    numbers = read_dashboard(merchant.id, LAST_30_DAYS, heard, whole=False)
    assert numbers is not None and total_transactions(numbers) == "1"
    assert "health" not in numbers and "profile" not in numbers
    whole = read_dashboard(merchant.id, LAST_30_DAYS, heard)
    assert whole is not None and whole is not numbers
    assert whole["profile"].email == merchant.email and whole["health"].requests == "0"
    pay(merchant, 2_000)
    heard = time.monotonic()
    whole = read_dashboard(merchant.id, LAST_30_DAYS, heard)
    assert whole is not None and total_transactions(whole) == "2"
    assert read_dashboard(merchant.id, LAST_30_DAYS, heard, whole=False) is whole


def test_a_live_frame_carries_the_typed_view_as_reflex_sends_the_state(
    db: TestDatabase, merchant: User
) -> None:
    """The live stream encodes the view's dataclasses itself (`state/live.encode_event`, with
    orjson): each var must reach the browser in the shape Reflex gives the same value assigned
    to DashboardState, a dataclass as the dict of its fields, and the frame must be the very
    text Reflex's own encoder writes."""
    pay(merchant, 1_250)
    view = read_dashboard(merchant.id, LAST_30_DAYS, time.monotonic())
    assert view is not None
    shown = {name: value for name, value in view.items() if name[0] != "_"}
    root = State(_reflex_internal_init=True)
    page = root.get_substate(DashboardState.get_full_name().split("."))
    for name, value in shown.items():
        setattr(page, name, value)
    update = rx_format.json_dumps(StateUpdate(delta=root.get_delta()))
    by_reflex = json.loads(update)["delta"][DashboardState.get_full_name()]
    delta = {"page": {f"{k}_rx_state_": v for k, v in shown.items()}}
    frame = encode_event(delta)
    assert frame == rx_format.json_dumps(["event", {"delta": delta}], separators=(",", ":"))
    live = json.loads(frame)[1]["delta"]["page"]
    for name, value in live.items():
        assert by_reflex[name] == value, name
    charts = {"charts": {f"{k}_rx_state_": v for k, v in view["_charts"].figures.items()}}
    assert encode_event(charts) == rx_format.json_dumps(
        ["event", {"delta": charts}], separators=(",", ":")
    )
    row = view["recent"][0]
    assert live["recent_rx_state_"][0] == dataclasses.asdict(row)
    assert live["recent_rx_state_"][0]["amount"] == "$12.50"
    assert live["profile_rx_state_"]["name"] == view["profile"].name != ""
    assert set(live["health_rx_state_"]) == {f.name for f in dataclasses.fields(view["health"])}


def test_a_dashboard_read_counts_its_cpu_toward_the_pace(
    db: TestDatabase, merchant: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    pay(merchant, 1_000)
    pace = ReadPace()
    monkeypatch.setattr(dashboard_reads, "PACE", pace)
    assert read_dashboard(merchant.id, LAST_30_DAYS, time.monotonic()) is not None
    assert pace._spent > 0

"""selectors.live_numbers: a live dashboard adds the payments it hears to the numbers of its last
read, and what it shows is exactly what a new read shows — or it answers None and reads."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import col, select

from paybridge.db import read_session, utcnow
from paybridge.events.outbox import event_message
from paybridge.models import Event, Provider, User
from paybridge.selectors.analytics import COUNTED_WINDOW, daily_points
from paybridge.selectors.live_numbers import COUNTED_KEEP, numbers_with_payments
from paybridge.selectors.periods import period_for_days
from paybridge.services.refunds import transaction_refund
from paybridge.services.transactions import (
    new_payment,
    transaction_create,
    transaction_update_status,
    transactions_record,
)
from paybridge.services.users import user_update_payout_settings
from paybridge.state.dashboard_reads import Filters, read_snapshot
from paybridge.views.dashboard import Snapshot, numbers_view
from tests.conftest import TestDatabase, create_merchant

ANY_CURRENCY = Filters(range_key="30d", custom_from="", custom_to="", currency="")
USD = ANY_CURRENCY._replace(currency="USD")


def pay(merchant: User, amount: int, *, currency: str = "USD", provider: str = "card",
        status: str = "success", created_at=None) -> str:  # fmt: skip
    return transaction_create(
        merchant_id=merchant.id,
        amount=amount,
        currency=currency,
        provider=provider,
        customer_email="buyer@example.com",
        status=status,
        created_at=created_at,
    ).reference


def events_after(merchant: User, after: int) -> list[dict[str, Any]]:
    """The merchant's events past `after`, as the bus carries them."""
    with read_session() as session:
        rows = session.exec(
            select(Event).where(Event.merchant_id == merchant.id, col(Event.id) > after)
        ).all()
        return [event_message(e) for e in sorted(rows, key=lambda e: e.id)]


def newest_id(merchant: User) -> int:
    with read_session() as session:
        ids = session.exec(select(Event.id).where(Event.merchant_id == merchant.id)).all()
        return max(ids, default=0)


def read(merchant: User, filters: Filters) -> Snapshot:
    snap = read_snapshot(merchant.id, filters, whole=False)
    assert snap is not None
    return snap


def shown(snap: Snapshot, numbers=None) -> dict[str, Any]:
    """What the dashboard draws from the numbers (the chart figures included)."""
    return numbers_view(numbers or snap.numbers, snap.period)


def counted(snap: Snapshot, messages: list[dict[str, Any]]):
    return numbers_with_payments(snap.numbers, messages, snap.providers)


@pytest.mark.parametrize(("hold_days", "timezone"), [(None, "UTC"), (0, "Asia/Kolkata")])
def test_payments_added_to_a_read_show_what_a_new_read_shows(
    db: TestDatabase, providers: dict[str, Provider], hold_days: int | None, timezone: str
) -> None:
    merchant = create_merchant(timezone=timezone)
    user_update_payout_settings(user_id=merchant.id, schedule="weekly", weekday=4,
                                hold_days=hold_days)  # fmt: skip
    pay(merchant, 10_000)
    pay(merchant, 2_500, status="failed", provider="stripe")
    refunded = pay(merchant, 7_000, provider="paystack")
    transaction_refund(merchant_id=merchant.id, reference=refunded, amount=3_000)
    pay(merchant, 900, currency="EUR")
    pay(merchant, 4_000, created_at=utcnow() - timedelta(days=40))  # the previous period
    for filters in (ANY_CURRENCY, USD):
        before = read(merchant, filters)
        mark = newest_id(merchant)
        pay(merchant, 1_234)
        pay(merchant, 555, status="pending", provider="stripe")
        pay(merchant, 7_777, status="failed", provider="flutterwave")  # a provider not yet seen
        pay(merchant, 3_333, provider="mobile_money")
        pay(merchant, 120, currency="EUR")  # another currency: its balance and its count
        pay(merchant, 99, currency="GBP")  # a currency the merchant never had
        heard = events_after(merchant, mark)
        assert len(heard) == 6
        added = counted(before, heard)
        assert added is not None
        after = read(merchant, filters)
        assert shown(before, added) == shown(after)
        assert added.balances == after.numbers.balances
        assert added.currencies == after.numbers.currencies
        assert shown(before) != shown(after)  # the payments did change what it shows


def test_an_event_the_read_counted_changes_nothing(db: TestDatabase, merchant: User) -> None:
    mark = newest_id(merchant)
    pay(merchant, 1_000)
    pay(merchant, 2_000)
    snap = read(merchant, USD)
    heard = events_after(merchant, mark)
    assert counted(snap, heard) is snap.numbers
    pay(merchant, 3_000)
    later = events_after(merchant, mark)
    once = counted(snap, later)
    assert once is not None
    twice = numbers_with_payments(once, later, snap.providers)  # the bus delivered it again
    assert twice is once
    assert shown(snap, once) == shown(read(merchant, USD))


def test_what_the_rules_do_not_cover_is_read_again(db: TestDatabase, merchant: User) -> None:
    first = pay(merchant, 1_000)
    pay(merchant, 800, currency="EUR")
    snap = read(merchant, USD)
    mark = newest_id(merchant)
    transaction_update_status(merchant_id=merchant.id, reference=first, status="refunded")
    assert counted(snap, events_after(merchant, mark)) is None  # a status change

    snap = read(merchant, USD)
    mark = newest_id(merchant)
    pay(merchant, 1_000, created_at=utcnow() - timedelta(days=45))  # outside the period
    assert counted(snap, events_after(merchant, mark)) is None

    snap = read(merchant, ANY_CURRENCY)  # USD, the most used
    assert snap.numbers.currency == "USD"
    mark = newest_id(merchant)
    pay(merchant, 700, currency="EUR")
    pay(merchant, 600, currency="EUR")  # EUR is now the most used: the whole page changes
    assert counted(snap, events_after(merchant, mark)) is None

    snap = read(merchant, USD)
    mark = newest_id(merchant)
    pay(merchant, 100)
    (message,) = events_after(merchant, mark)
    for unreadable in (
        {**message, "payload": {**message["payload"], "amount": "100"}},
        {**message, "payload": {**message["payload"], "amount": 100.0}},
        {**message, "payload": {**message["payload"], "fee": True}},
        {**message, "payload": {**message["payload"], "status": "refunded"}},
        {**message, "payload": {**message["payload"], "provider": "unknown"}},
        {**message, "payload": {**message["payload"], "created_at": "yesterday"}},
        {**message, "type": "settlement.created"},
        {**message, "id": str(message["id"])},
    ):
        assert counted(snap, [message, unreadable]) is None


def test_a_payment_older_than_the_reads_window_is_read_again(
    db: TestDatabase, providers: dict[str, Provider]
) -> None:
    """An event heard after the read, with an id below the newest COUNTED_WINDOW the read saw,
    may have committed before the read or after it: only a read can tell."""
    merchant = create_merchant("busy@example.com")
    transactions_record(
        [
            new_payment(
                merchant_id=merchant.id,
                amount=100 + i,
                currency="USD",
                provider="card",
                customer_email="buyer@example.com",
                status="success",
            )
            for i in range(COUNTED_WINDOW + 5)
        ]
    )
    snap = read(merchant, USD)
    basis = snap.numbers.basis
    assert basis is not None and len(basis.counted) == COUNTED_WINDOW
    assert basis.floor == min(basis.counted)
    mark = newest_id(merchant)
    pay(merchant, 100)
    (message,) = events_after(merchant, mark)
    assert counted(snap, [message]) is not None  # newer than the window: not in the read
    late = {**message, "id": min(basis.counted) - 1}
    assert counted(snap, [late]) is None


def test_a_stream_remembers_the_newest_payments_it_added_and_reads_for_older_ones(
    db: TestDatabase, merchant: User
) -> None:
    """Between two reads a busy merchant's stream adds thousands of payments; it remembers the
    newest COUNTED_KEEP of them (hearing one again changes nothing) and reads for anything older."""
    snap = read(merchant, USD)
    mark = newest_id(merchant)
    pay(merchant, 100)
    (message,) = events_after(merchant, mark)
    numbers = snap.numbers
    heard = [{**message, "id": message["id"] + i} for i in range(2 * COUNTED_KEEP + 1)]
    for start in range(0, len(heard), 100):  # the bus delivers them in batches
        added = numbers_with_payments(numbers, heard[start : start + 100], snap.providers)
        assert added is not None
        numbers = added
    basis = numbers.basis
    assert basis is not None and len(basis.counted) <= 2 * COUNTED_KEEP
    total = next(c.value for c in shown(snap, numbers)["cards"] if c.id == "total-transactions")
    assert total == f"{2 * COUNTED_KEEP + 1:,}"
    assert numbers_with_payments(numbers, heard[-5:], snap.providers) is numbers  # heard again
    assert numbers_with_payments(numbers, heard[:1], snap.providers) is None  # below the floor


@given(
    before=st.dictionaries(
        st.integers(0, 40), st.tuples(st.integers(1, 10**9), st.integers(1, 99))
    ),
    after=st.dictionaries(
        st.integers(-5, 45), st.tuples(st.integers(1, 10**9), st.integers(1, 99))
    ),
    earlier_length=st.sampled_from([0, 30, 31]),
)
def test_daily_points_made_again_only_for_changed_days_equal_all_made_afresh(
    before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]], earlier_length: int
) -> None:
    """A stream passes the points it showed and the days its payments touched; the points are
    those of a fresh build, whatever earlier list it holds (another period's falls back)."""
    period = period_for_days(date(2026, 3, 1), date(2026, 3, 31), "UTC")
    day = lambda n: date(2026, 3, 1) + timedelta(days=n)  # noqa: E731
    old = {day(n): value for n, value in before.items()}
    new = {**old, **{day(n): value for n, value in after.items()}}
    earlier = daily_points(period, old)[:earlier_length]
    points = daily_points(period, new, earlier=earlier, changed={day(n) for n in after})
    assert points == daily_points(period, new)
    assert [p.day for p in points] == list(period.days())

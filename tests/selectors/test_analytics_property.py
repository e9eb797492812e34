"""Property tests: the rollup-based dashboard equals the raw-scan reference (and a plain Python
count) for random histories, timezones and periods; balances equal a plain Python sum."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from paybridge.db import read_session, utcnow
from paybridge.errors import DomainError
from paybridge.models import DailyRollup, HourlyRollup, Provider, QuarterRollup, RollupTotal, User
from paybridge.models.transaction import TRANSITIONS
from paybridge.selectors.analytics import dashboard_metrics, merchant_currencies
from paybridge.selectors.balances import balances
from paybridge.selectors.periods import Period, period_for_days, period_last_days
from paybridge.selectors.reference import dashboard_metrics_raw
from paybridge.services.providers import DEFAULT_PROVIDERS
from paybridge.services.rollups import SUMS, floor_hour
from paybridge.services.settlements import settlement_update_status, settlement_withdraw
from paybridge.services.transactions import transaction_create, transaction_update_status
from paybridge.services.users import user_update_payout_settings
from tests.conftest import TestDatabase

pytestmark = pytest.mark.timeout(300)

PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("PAYBRIDGE_TEST_MAX_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # data is reset by hand between examples
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# New York changes its offset inside the window below (US DST starts 2025-03-09); Kolkata
# (+05:30) and Kathmandu (+05:45) start their days inside a UTC hour.
TIMEZONES = [
    "UTC",
    "Africa/Lagos",
    "America/New_York",
    "Asia/Tokyo",
    "Europe/London",
    "Asia/Kolkata",
    "Asia/Kathmandu",
]
BASE = datetime(2025, 3, 4, 0, 0, tzinfo=UTC)
SPAN_SECONDS = 10 * 24 * 3600
PROVIDER_CODES = [code for code, *_ in DEFAULT_PROVIDERS]
STATUSES = ["pending", "success", "failed", "refunded"]

offsets = st.one_of(
    st.integers(0, SPAN_SECONDS - 1),
    st.integers(0, SPAN_SECONDS // 3600 - 1).map(lambda h: h * 3600),  # exactly on the hour
    st.integers(1, SPAN_SECONDS // 3600).map(lambda h: h * 3600 - 1),  # last second of an hour
    st.integers(1, SPAN_SECONDS // 900 - 1).map(lambda q: q * 900),  # on a quarter hour
    st.integers(1, SPAN_SECONDS // 900).map(lambda q: q * 900 - 1),  # just before one
)
creates = st.builds(
    lambda amount, currency, provider, status, offset: (
        "create",
        {"amount": amount, "currency": currency, "provider": provider, "status": status},
        offset,
    ),
    amount=st.one_of(st.integers(1, 2_000_000), st.sampled_from([1, 29, 30, 31, 100, 10_000])),
    currency=st.sampled_from(["USD", "JPY"]),
    provider=st.sampled_from(PROVIDER_CODES),
    status=st.sampled_from(["success", "success", "pending", "failed"]),
    offset=offsets,
)
changes = st.tuples(st.just("change"), st.integers(0, 10_000), st.sampled_from(STATUSES))
operations = st.lists(st.one_of(creates, creates, changes), min_size=4, max_size=40)


@st.composite
def periods(draw: st.DrawFn) -> Period:
    tz = draw(st.sampled_from(TIMEZONES))
    if draw(st.booleans()):
        first = BASE.date() + timedelta(days=draw(st.integers(-3, 11)))
        length = draw(st.integers(1, 10))
        return period_for_days(first, first + timedelta(days=length - 1), tz)
    now = BASE + timedelta(seconds=draw(st.integers(0, SPAN_SECONDS + 2 * 86400)))
    return period_last_days(draw(st.sampled_from([1, 2, 3, 7, 10])), tz, now=now)


@dataclass
class Payment:
    reference: str
    currency: str
    provider: str
    amount: int
    status: str
    created_at: datetime


def apply(merchant: User, ops: list) -> list[Payment]:
    """Run the operations through the services; return the plain-Python view of the result."""
    made: list[Payment] = []
    for op in ops:
        if op[0] == "create":
            _, values, offset = op
            tx = transaction_create(
                merchant_id=merchant.id,
                customer_email="buyer@example.com",
                created_at=BASE + timedelta(seconds=offset),
                **values,
            )
            made.append(
                Payment(
                    tx.reference,
                    tx.currency,
                    values["provider"],
                    tx.amount,
                    tx.status,
                    tx.created_at,
                )
            )
        elif made:
            _, index, new = op
            payment = made[index % len(made)]
            legal = new in TRANSITIONS[payment.status]
            try:
                transaction_update_status(
                    merchant_id=merchant.id, reference=payment.reference, status=new
                )
            except DomainError as error:
                assert not legal, f"{payment.status} -> {new} was refused: {error.code}"
                assert error.code == "invalid_status_transition"
            else:
                assert legal, f"{payment.status} -> {new} was accepted"
                payment.status = new
    return made


def python_headline(payments: list[Payment], currency: str, start: datetime, end: datetime):
    """(total, volume, success count, statuses Counter) computed by hand."""
    inside = [p for p in payments if p.currency == currency and start <= p.created_at < end]
    statuses = Counter(p.status for p in inside)
    volume = sum(p.amount for p in inside if p.status == "success")
    return len(inside), volume, statuses["success"], statuses


def python_daily(payments: list[Payment], currency: str, period: Period) -> dict[date, tuple]:
    from zoneinfo import ZoneInfo

    daily: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for p in payments:
        if (
            p.currency == currency
            and p.status == "success"
            and period.start <= p.created_at < period.end
        ):
            day = daily[p.created_at.astimezone(ZoneInfo(period.tz)).date()]
            day[0] += p.amount
            day[1] += 1
    return {d: tuple(v) for d, v in daily.items()}


def grain_sums(rows, key) -> dict[tuple, tuple[int, ...]]:  # type: ignore[no-untyped-def]
    """Rows of a rollup table summed per key(row); empty buckets left out."""
    sums: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(SUMS))
    for row in rows:
        for i, name in enumerate(SUMS):
            sums[key(row)][i] += getattr(row, name)
    return {k: tuple(v) for k, v in sums.items() if any(v)}


def assert_grains_agree(payments: list[Payment]) -> None:
    """Every grain holds the same buckets: the quarter hours summed per hour are the hourly
    rollups, per UTC day the daily ones, over all time the totals, and the totals' counts are
    the payments'."""
    with read_session() as session:
        quarters = session.exec(select(QuarterRollup)).all()
        hours = session.exec(select(HourlyRollup)).all()
        days = session.exec(select(DailyRollup)).all()
        totals = session.exec(select(RollupTotal)).all()

    def base(row) -> tuple:  # type: ignore[no-untyped-def]
        return (row.merchant_id, row.currency, row.provider_id, row.status)

    assert grain_sums(quarters, lambda r: (*base(r), floor_hour(r.quarter))) == grain_sums(
        hours, lambda r: (*base(r), r.hour)
    )
    assert grain_sums(hours, lambda r: (*base(r), r.hour.date())) == grain_sums(
        days, lambda r: (*base(r), r.day)
    )
    assert grain_sums(days, base) == grain_sums(totals, base)
    counted = grain_sums(totals, lambda r: (r.currency, r.status))
    assert {k: v[0] for k, v in counted.items() if v[0]} == Counter(
        (p.currency, p.status) for p in payments
    )


@PROPERTY_SETTINGS
@given(ops=operations, period=periods())
def test_rollup_dashboard_equals_raw_scan(
    db: TestDatabase, merchant: User, ops: list, period: Period
) -> None:
    db.empty_business_data()
    payments = apply(merchant, ops)
    assert_grains_agree(payments)

    with read_session() as session:
        used = merchant_currencies(session=session, merchant_id=merchant.id)
        assert set(used) == {p.currency for p in payments}
        for currency in ("USD", "JPY"):
            fast = dashboard_metrics(
                session=session, merchant_id=merchant.id, currency=currency, period=period
            )
            slow = dashboard_metrics_raw(
                session=session, merchant_id=merchant.id, currency=currency, period=period
            )
            assert fast == slow, (currency, period)

            # ... and both agree with a count made by hand.
            total, volume, success, statuses = python_headline(
                payments, currency, period.start, period.end
            )
            assert fast.current.total_transactions == total
            assert fast.current.total_volume == volume
            assert {s.status: s.count for s in fast.statuses} == {s: statuses[s] for s in STATUSES}
            expected_average = 0 if success == 0 else (2 * volume + success) // (2 * success)
            assert fast.current.average_transaction == expected_average
            previous = period.previous
            assert (
                fast.previous.total_transactions
                == python_headline(payments, currency, previous.start, previous.end)[0]
            )
            assert [d.day for d in fast.daily] == list(period.days())
            assert {d.day: (d.volume, d.count) for d in fast.daily if d.count} == python_daily(
                payments, currency, period
            )
            assert sum(p.count for p in fast.providers) == total


def test_rollup_dashboard_matches_on_a_fixed_history(db: TestDatabase, merchant: User) -> None:
    """A deterministic example, so a regression shows up even with a lucky hypothesis run."""
    ops = [
        (
            "create",
            {"amount": 1_000, "currency": "USD", "provider": "card", "status": "success"},
            0,
        ),
        ("create", {"amount": 500, "currency": "USD", "provider": "card", "status": "pending"}, 5),
        ("create", {"amount": 7, "currency": "JPY", "provider": "stripe", "status": "failed"}, 9),
        ("change", 1, "success"),
        ("change", 0, "refunded"),
        (
            "create",
            {"amount": 300, "currency": "USD", "provider": "card", "status": "failed"},
            86_399,
        ),
        (
            "create",
            {"amount": 250, "currency": "USD", "provider": "card", "status": "success"},
            84_600,
        ),
    ]
    apply(merchant, ops)
    # Lagos is UTC+1: 23:59:59 UTC on 4 March is already 5 March there.
    period = period_for_days(date(2025, 3, 4), date(2025, 3, 4), "Africa/Lagos")
    with read_session() as session:
        fast = dashboard_metrics(
            session=session, merchant_id=merchant.id, currency="USD", period=period
        )
        slow = dashboard_metrics_raw(
            session=session, merchant_id=merchant.id, currency="USD", period=period
        )
    assert fast == slow
    assert fast.current.total_transactions == 2
    assert fast.current.total_volume == 500
    assert fast.current.success_rate_bp == 10_000  # one success, one refunded, none failed
    assert [(p.code, p.count, p.volume) for p in fast.providers] == [("card", 2, 500)]

    # 23:30 UTC on 4 March is 08:30 on 5 March in Tokyo: the daily series follows the zone.
    tokyo = period_for_days(date(2025, 3, 4), date(2025, 3, 5), "Asia/Tokyo")
    with read_session() as session:
        fast = dashboard_metrics(
            session=session, merchant_id=merchant.id, currency="USD", period=tokyo
        )
        slow = dashboard_metrics_raw(
            session=session, merchant_id=merchant.id, currency="USD", period=tokyo
        )
    assert fast == slow
    assert [(d.day, d.volume, d.count) for d in fast.daily] == [
        (date(2025, 3, 4), 500, 1),
        (date(2025, 3, 5), 250, 1),
    ]


# --- balances ------------------------------------------------------------------------------

balance_payments = st.lists(
    st.tuples(
        st.one_of(
            st.integers(0, 14 * 24 * 60), st.sampled_from(["cutoff-1", "cutoff", "cutoff+1"])
        ),
        st.integers(1, 500_000),
        st.sampled_from(["USD", "JPY"]),
        st.sampled_from(PROVIDER_CODES),
        st.sampled_from(STATUSES),
    ),
    max_size=20,
)
withdrawals = st.lists(
    st.tuples(st.integers(1, 300_000), st.sampled_from(["USD", "JPY"]), st.booleans()),
    max_size=5,
)


@PROPERTY_SETTINGS
@given(
    payments=balance_payments,
    hold_days=st.sampled_from([None, 0, 3, 7]),
    payouts=withdrawals,
)
def test_balances_equal_a_plain_python_sum(
    db: TestDatabase,
    merchant: User,
    providers: dict[str, Provider],
    payments: list,
    hold_days: int | None,
    payouts: list,
) -> None:
    db.empty_business_data()
    user_update_payout_settings(user_id=merchant.id, schedule="weekly", hold_days=hold_days)
    now = utcnow()
    hold = 7 if hold_days is None else hold_days  # PAYBRIDGE_HOLD_DAYS=7 in the test settings
    cutoff = now - timedelta(days=hold)

    nets: list[tuple[str, datetime, int]] = []  # successful payments: currency, time, net
    for when, amount, currency, provider, status in payments:
        if isinstance(when, str):
            created_at = cutoff + timedelta(
                minutes={"cutoff-1": -1, "cutoff": 0, "cutoff+1": 1}[when]
            )
            created_at = min(created_at, now)
        else:
            created_at = now - timedelta(minutes=when)
        tx = transaction_create(
            merchant_id=merchant.id,
            amount=amount,
            currency=currency,
            provider=provider,
            customer_email="buyer@example.com",
            status="success" if status == "refunded" else status,
            created_at=created_at,
        )
        if status == "refunded":
            transaction_update_status(
                merchant_id=merchant.id, reference=tx.reference, status="refunded"
            )
        elif status == "success":
            nets.append((currency, created_at, tx.net_amount))

    paid_out: dict[str, int] = defaultdict(int)
    for amount, currency, fail in payouts:
        try:
            payout = settlement_withdraw(merchant_id=merchant.id, amount=amount, currency=currency)
        except DomainError as error:
            assert error.code == "insufficient_funds"
            continue
        if fail:
            settlement_update_status(
                merchant_id=merchant.id, reference=payout.reference, status="failed"
            )
        else:
            paid_out[currency] += amount

    with read_session() as session:
        got = {
            b.currency: (b.available, b.pending)
            for b in balances(session=session, merchant_id=merchant.id, now=now)
        }
    for currency in ("USD", "JPY"):
        released = sum(n for c, t, n in nets if c == currency and t < cutoff)
        held = sum(n for c, t, n in nets if c == currency and t >= cutoff)
        assert got.get(currency, (0, 0)) == (released - paid_out[currency], held), currency


def test_days_that_start_inside_a_utc_hour_are_exact(db: TestDatabase, merchant: User) -> None:
    """Kolkata's midnight is 18:30 UTC: a payment at 18:40 UTC (00:10 there) is on the next
    day, one at 18:20 UTC (23:50) on the day before, though both share a UTC hour."""
    ops = [
        ("create", {"amount": 100, "currency": "USD", "provider": "card", "status": "success"}, o)
        for o in (18 * 3600 + 20 * 60, 18 * 3600 + 40 * 60, 18 * 3600 + 30 * 60)
    ]
    apply(merchant, ops)
    period = period_for_days(date(2025, 3, 4), date(2025, 3, 5), "Asia/Kolkata")
    with read_session() as session:
        fast = dashboard_metrics(
            session=session, merchant_id=merchant.id, currency="USD", period=period
        )
        slow = dashboard_metrics_raw(
            session=session, merchant_id=merchant.id, currency="USD", period=period
        )
        only_the_5th = period_for_days(date(2025, 3, 5), date(2025, 3, 5), "Asia/Kolkata")
        fifth = dashboard_metrics(
            session=session, merchant_id=merchant.id, currency="USD", period=only_the_5th
        )
    assert fast == slow
    assert [(d.day, d.count) for d in fast.daily] == [(date(2025, 3, 4), 1), (date(2025, 3, 5), 2)]
    assert fifth.current.total_transactions == 2
    assert fifth.previous.total_transactions == 1

"""Property tests with partial refunds: for random histories of payments, status changes and
full or partial refunds, the rollup-based dashboard equals the raw-scan reference and a plain
Python count, and balances equal a plain Python sum of what the refunds left."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paybridge.db import read_session, utcnow
from paybridge.errors import DomainError
from paybridge.models import User
from paybridge.models.transaction import TRANSITIONS
from paybridge.selectors.analytics import dashboard_metrics
from paybridge.selectors.balances import balances
from paybridge.selectors.periods import Period, period_for_days, period_last_days
from paybridge.selectors.reference import dashboard_metrics_raw
from paybridge.services.providers import DEFAULT_PROVIDERS
from paybridge.services.refunds import refunded_net_share, transaction_refund
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
TIMEZONES = ["UTC", "Africa/Lagos", "America/New_York", "Asia/Tokyo", "Asia/Kolkata"]
BASE = datetime(2025, 3, 4, 0, 0, tzinfo=UTC)
SPAN_SECONDS = 6 * 24 * 3600
PROVIDERS = [code for code, *_ in DEFAULT_PROVIDERS]

creates = st.tuples(
    st.just("create"),
    st.one_of(st.integers(1, 2_000_000), st.sampled_from([1, 2, 3, 31, 100, 9_999])),
    st.sampled_from(["USD", "JPY"]),
    st.sampled_from(PROVIDERS),
    st.sampled_from(["success", "success", "success", "pending", "failed"]),
    st.integers(0, SPAN_SECONDS - 1),
)
changes = st.tuples(
    st.just("change"), st.integers(0, 10_000), st.sampled_from(["success", "failed", "refunded"])
)
# ("refund", which payment, numerator/denominator of what is left, or "over": one unit too many)
refunds = st.tuples(
    st.just("refund"),
    st.integers(0, 10_000),
    st.one_of(st.tuples(st.integers(1, 7), st.just(7)), st.just("all"), st.just("over")),
)
operations = st.lists(
    st.one_of(creates, creates, changes, refunds, refunds), min_size=4, max_size=40
)


@dataclass
class Payment:
    reference: str
    currency: str
    amount: int
    net: int
    status: str
    created_at: datetime
    refunded: int = 0

    @property
    def refunded_net(self) -> int:
        return refunded_net_share(amount=self.amount, net_amount=self.net, refunded=self.refunded)


def apply(merchant: User, ops: list, at: callable) -> list[Payment]:  # type: ignore[valid-type]
    made: list[Payment] = []
    for op in ops:
        if op[0] == "create":
            _, amount, currency, provider, status, offset = op
            tx = transaction_create(
                merchant_id=merchant.id,
                amount=amount,
                currency=currency,
                provider=provider,
                customer_email="buyer@example.com",
                status=status,
                created_at=at(offset),
            )
            made.append(
                Payment(tx.reference, currency, amount, tx.net_amount, status, tx.created_at)
            )
        elif not made:
            continue
        elif op[0] == "change":
            payment = made[op[1] % len(made)]
            legal = op[2] in TRANSITIONS[payment.status]
            try:
                transaction_update_status(
                    merchant_id=merchant.id, reference=payment.reference, status=op[2]
                )
            except DomainError as error:
                assert not legal and error.code == "invalid_status_transition"
            else:
                assert legal
                payment.status = op[2]
                if op[2] == "refunded":
                    payment.refunded = payment.amount
        else:
            payment = made[op[1] % len(made)]
            left = payment.amount - payment.refunded
            share = op[2]
            amount = (
                left + 1
                if share == "over"
                else left
                if share == "all"
                else max(1, left * share[0] // share[1])
            )
            try:
                transaction_refund(
                    merchant_id=merchant.id, reference=payment.reference, amount=amount
                )
            except DomainError as error:
                if amount == 0:  # nothing left of a refunded payment
                    assert error.code == "invalid_amount"
                elif payment.status != "success":
                    assert error.code == "not_refundable"
                else:
                    assert share == "over" and error.code == "refund_exceeds_remaining"
            else:
                assert payment.status == "success" and amount <= left
                payment.refunded += amount
                if payment.refunded == payment.amount:
                    payment.status = "refunded"
    return made


@st.composite
def periods(draw: st.DrawFn) -> Period:
    tz = draw(st.sampled_from(TIMEZONES))
    if draw(st.booleans()):
        first = BASE.date() + timedelta(days=draw(st.integers(-2, 6)))
        return period_for_days(first, first + timedelta(days=draw(st.integers(0, 6))), tz)
    now = BASE + timedelta(seconds=draw(st.integers(0, SPAN_SECONDS + 86400)))
    return period_last_days(draw(st.sampled_from([1, 3, 7])), tz, now=now)


@PROPERTY_SETTINGS
@given(ops=operations, period=periods())
def test_dashboard_with_partial_refunds_equals_raw_scan_and_python(
    db: TestDatabase, merchant: User, ops: list, period: Period
) -> None:
    db.empty_business_data()
    payments = apply(merchant, ops, lambda offset: BASE + timedelta(seconds=offset))
    with read_session() as session:
        for currency in ("USD", "JPY"):
            fast = dashboard_metrics(
                session=session, merchant_id=merchant.id, currency=currency, period=period
            )
            slow = dashboard_metrics_raw(
                session=session, merchant_id=merchant.id, currency=currency, period=period
            )
            assert fast == slow, (currency, period)
            inside = [
                p
                for p in payments
                if p.currency == currency and period.start <= p.created_at < period.end
            ]
            succeeded = [p for p in inside if p.status == "success"]
            volume = sum(p.amount - p.refunded for p in succeeded)
            assert fast.current.total_transactions == len(inside)
            assert fast.current.total_volume == volume
            statuses = Counter(p.status for p in inside)
            assert {s.status: s.count for s in fast.statuses} == {
                s: statuses[s] for s in ("pending", "success", "failed", "refunded")
            }
            n = len(succeeded)
            assert fast.current.average_transaction == (
                0 if n == 0 else (2 * volume + n) // (2 * n)
            )
            assert sum(d.volume for d in fast.daily) == volume


@PROPERTY_SETTINGS
@given(ops=operations, hold_days=st.sampled_from([0, 2, 7]))
def test_balances_with_partial_refunds_equal_a_plain_python_sum(
    db: TestDatabase, merchant: User, ops: list, hold_days: int
) -> None:
    db.empty_business_data()
    user_update_payout_settings(user_id=merchant.id, schedule="weekly", hold_days=hold_days)
    now = utcnow()
    cutoff = now - timedelta(days=hold_days)
    # Payments spread over the last 6 days, around the hold cutoff.
    payments = apply(merchant, ops, lambda offset: now - timedelta(seconds=offset))
    with read_session() as session:
        got = {
            b.currency: (b.available, b.pending)
            for b in balances(session=session, merchant_id=merchant.id, now=now)
        }
    for currency in ("USD", "JPY"):
        kept = [
            (p.created_at, p.net - p.refunded_net)
            for p in payments
            if p.currency == currency and p.status == "success"
        ]
        released = sum(n for t, n in kept if t < cutoff)
        held = sum(n for t, n in kept if t >= cutoff)
        assert got.get(currency, (0, 0)) == (released, held), currency

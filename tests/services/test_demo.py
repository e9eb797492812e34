"""services.demo: the seeded payout history is what the worker's schedule would have paid, so
a fresh demo has money to withdraw and the worker does not pay it out off-schedule."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from paybridge.db import read_session
from paybridge.models import Event, Provider, Settlement, Transaction, User
from paybridge.selectors.balances import balances
from paybridge.services.demo import seed_history, seed_payout_history
from paybridge.services.payouts import payouts_run_scheduled, scheduled_key
from tests.conftest import TestDatabase, create_merchant

pytestmark = pytest.mark.timeout(120)

LAGOS = ZoneInfo("Africa/Lagos")
# Wednesday 10 June 2026, 12:00 in Lagos: the last payout was Friday 5 June. (In the past:
# the worker pays what is available at the real time.)
WEDNESDAY = datetime(2026, 6, 10, 11, 0, tzinfo=UTC)
HOLD = timedelta(days=7)


@pytest.fixture
def demo(db: TestDatabase, providers: dict[str, Provider]) -> User:
    """Weekly payouts on Friday in Lagos, 40 days of payments before WEDNESDAY."""
    user = create_merchant("demo@example.com", timezone="Africa/Lagos")
    seed_history(merchant_id=user.id, days=40, transactions=1_500, now=WEDNESDAY)
    return user


def payouts_of(merchant_id: int) -> list[Settlement]:
    with read_session() as session:
        return list(
            session.exec(
                select(Settlement)
                .where(Settlement.merchant_id == merchant_id)
                .order_by(Settlement.created_at, Settlement.currency)
            ).all()
        )


def released(merchant_id: int, currency: str, at: datetime) -> int:
    """Net of successful payments past the hold at `at`, summed from the payments themselves."""
    with read_session() as session:
        rows = session.exec(
            select(Transaction).where(
                Transaction.merchant_id == merchant_id,
                Transaction.currency == currency,
                Transaction.status == "success",
                Transaction.created_at < at - HOLD,
            )
        ).all()
    return sum(tx.net_amount - tx.refunded_net for tx in rows)


def test_every_friday_pays_what_was_available_then_and_failures_come_back(
    db: TestDatabase, demo: User
) -> None:
    made = seed_payout_history(merchant_id=demo.id, now=WEDNESDAY, failure_rate=0.3)
    payouts = payouts_of(demo.id)
    assert len(payouts) == len(made)
    assert payouts, "40 days of payments and a 7-day hold leave several Fridays"
    statuses = {p.status for p in payouts}
    assert statuses == {"completed", "failed"}, statuses  # 30 % fail: some of each

    paid: dict[str, int] = defaultdict(int)
    for payout in payouts:
        local = payout.created_at.astimezone(LAGOS)
        assert (local.strftime("%A"), local.hour, local.minute) == ("Friday", 6, 0)
        assert payout.idempotency_key == scheduled_key(local.date(), payout.currency)
        # The whole balance available at that moment: released money less the payouts made
        # before that have not failed (a failed one's money went back and is paid again).
        assert (
            payout.amount
            == released(demo.id, payout.currency, payout.created_at) - (paid[payout.currency])
        )
        assert payout.completed_at == payout.created_at + timedelta(days=1)
        if payout.status == "failed":
            assert payout.failure_reason
        else:
            paid[payout.currency] += payout.amount

    with read_session() as session:
        now = {b.currency: b for b in balances(session=session, merchant_id=demo.id, now=WEDNESDAY)}
    for currency, balance in now.items():
        assert balance.available == released(demo.id, currency, WEDNESDAY) - paid[currency]
    assert now["USD"].available > 0  # what was released since Friday: Withdraw is enabled
    assert db.count(Event) == 0  # history is not news


def test_the_worker_pays_nothing_before_the_next_friday(db: TestDatabase, demo: User) -> None:
    seeded = seed_payout_history(merchant_id=demo.id, now=WEDNESDAY)
    assert payouts_run_scheduled(now=WEDNESDAY) == []
    saturday = datetime(2026, 6, 6, 12, 0, tzinfo=UTC)  # the day after the last seeded Friday
    assert payouts_run_scheduled(now=saturday) == []
    friday = datetime(2026, 6, 12, 7, 0, tzinfo=UTC)
    made = payouts_run_scheduled(now=friday)
    assert made and {p.idempotency_key for p in made} == {
        scheduled_key(friday.astimezone(LAGOS).date(), p.currency) for p in made
    }
    assert len(payouts_of(demo.id)) == len(seeded) + len(made)


def test_a_payout_made_today_is_still_processing(db: TestDatabase, demo: User) -> None:
    friday_noon = datetime(2026, 6, 5, 11, 0, tzinfo=UTC)  # 12:00 in Lagos
    made = seed_payout_history(merchant_id=demo.id, now=friday_noon)
    today = [p for p in made if p.created_at.astimezone(LAGOS).date() == friday_noon.date()]
    assert today and {p.status for p in today} == {"processing"}
    assert {p.completed_at for p in today} == {None}
    assert payouts_run_scheduled(now=friday_noon) == []  # already paid today


def test_no_history_for_a_manual_schedule(db: TestDatabase, providers: dict[str, Provider]) -> None:
    from paybridge.services.users import user_update_payout_settings

    user = create_merchant("manual@example.com")
    user_update_payout_settings(user_id=user.id, schedule="manual")
    seed_history(merchant_id=user.id, days=30, transactions=200, now=WEDNESDAY)
    assert seed_payout_history(merchant_id=user.id, now=WEDNESDAY) == []
    assert payouts_of(user.id) == []


def test_only_a_payout_another_followed_has_failed(
    db: TestDatabase, providers: dict[str, Provider]
) -> None:
    """Every payout fails here except the newest date's (no later payout took its money), on a
    daily schedule as on a weekly one."""
    from paybridge.services.users import user_update_payout_settings

    user = create_merchant("daily@example.com", timezone="Africa/Lagos")
    user_update_payout_settings(user_id=user.id, schedule="daily")
    seed_history(merchant_id=user.id, days=12, transactions=400, now=WEDNESDAY)
    made = seed_payout_history(merchant_id=user.id, now=WEDNESDAY, failure_rate=1.0)
    days = sorted({p.created_at.astimezone(LAGOS).date() for p in made})
    assert len(days) >= 4
    newest = [p for p in made if p.created_at.astimezone(LAGOS).date() == days[-1]]
    older = [p for p in made if p.created_at.astimezone(LAGOS).date() != days[-1]]
    assert {p.status for p in newest} == {"processing"}  # this morning's, not settled yet
    assert {p.status for p in older} == {"failed"}

"""Payout schedule dates: month ends, 29 February, weekdays, merchant timezones — and scheduled
automatic payouts of the whole available balance, once per payout date."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from paybridge.db import read_session, write_session
from paybridge.models import Provider, Settlement, User
from paybridge.selectors.balances import available_balance
from paybridge.selectors.settlements import next_payout_date
from paybridge.services.payouts import (
    last_payout_date,
    payout_due_on,
    payouts_run_scheduled,
    schedule_in_force_on,
    scheduled_key,
)
from paybridge.services.users import user_update_payout_settings
from tests.conftest import TestDatabase, create_merchant, seed_available

pytestmark = pytest.mark.timeout(60)


def merchant_like(schedule: str, *, weekday: int = 0, day: int = 1, timezone: str = "UTC") -> User:
    """An unsaved User: the schedule functions only read its settings."""
    return User(
        email="x@example.com",
        password_hash="-",
        full_name="X",
        payout_schedule=schedule,
        payout_weekday=weekday,
        payout_day_of_month=day,
        timezone=timezone,
    )


def due_days(user: User, start: date, end: date) -> list[date]:
    days, day = [], start
    while day <= end:
        if payout_due_on(user, day):
            days.append(day)
        day += timedelta(days=1)
    return days


# --- dates ---------------------------------------------------------------------------------


def test_monthly_on_the_31st_uses_each_months_last_day() -> None:
    user = merchant_like("monthly", day=31)
    assert due_days(user, date(2027, 1, 1), date(2027, 6, 30)) == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
        date(2027, 5, 31),
        date(2027, 6, 30),
    ]


@pytest.mark.parametrize(
    ("day", "year", "expected"),
    [
        (29, 2028, date(2028, 2, 29)),  # leap year: the 29th exists
        (29, 2027, date(2027, 2, 28)),
        (30, 2028, date(2028, 2, 29)),
        (31, 2028, date(2028, 2, 29)),
        (28, 2028, date(2028, 2, 28)),  # the 28th stays the 28th in a leap year
        (31, 2100, date(2100, 2, 28)),  # 2100 is not a leap year
    ],
)
def test_february_payout_dates(day: int, year: int, expected: date) -> None:
    user = merchant_like("monthly", day=day)
    last = date(year, 2, calendar.monthrange(year, 2)[1])
    assert due_days(user, date(year, 2, 1), last) == [expected]


def test_weekly_runs_on_its_weekday_only() -> None:
    friday = merchant_like("weekly", weekday=4)
    days = due_days(friday, date(2025, 6, 1), date(2025, 6, 30))
    assert days == [date(2025, 6, 6), date(2025, 6, 13), date(2025, 6, 20), date(2025, 6, 27)]
    assert {d.strftime("%A") for d in days} == {"Friday"}
    sunday = merchant_like("weekly", weekday=6)
    assert due_days(sunday, date(2025, 6, 1), date(2025, 6, 8)) == [
        date(2025, 6, 1),
        date(2025, 6, 8),
    ]


def test_daily_and_manual() -> None:
    assert len(due_days(merchant_like("daily"), date(2028, 2, 1), date(2028, 2, 29))) == 29
    manual = merchant_like("manual")
    assert due_days(manual, date(2028, 1, 1), date(2028, 12, 31)) == []
    assert last_payout_date(manual, datetime(2028, 2, 29, tzinfo=UTC)) is None
    assert next_payout_date(manual, datetime(2028, 2, 29, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("timezone", "now", "expected_local_date"),
    [
        ("UTC", datetime(2025, 3, 31, 23, 30, tzinfo=UTC), date(2025, 3, 1)),
        ("Africa/Lagos", datetime(2025, 3, 31, 23, 30, tzinfo=UTC), date(2025, 4, 1)),
        ("America/Los_Angeles", datetime(2025, 4, 1, 6, 0, tzinfo=UTC), date(2025, 3, 1)),
        ("America/Los_Angeles", datetime(2025, 4, 1, 7, 0, tzinfo=UTC), date(2025, 4, 1)),
        ("Pacific/Kiritimati", datetime(2025, 12, 31, 10, 0, tzinfo=UTC), date(2026, 1, 1)),
        ("Asia/Kolkata", datetime(2025, 12, 31, 18, 29, tzinfo=UTC), date(2025, 12, 1)),
        ("Asia/Kolkata", datetime(2025, 12, 31, 18, 30, tzinfo=UTC), date(2026, 1, 1)),
    ],
)
def test_the_payout_date_is_the_merchants_local_date(
    timezone: str, now: datetime, expected_local_date: date
) -> None:
    """Monthly on the 1st: the same instant is already the 1st in one zone, not in another."""
    user = merchant_like("monthly", day=1, timezone=timezone)
    assert last_payout_date(user, now) == expected_local_date


def test_weekly_friday_in_los_angeles_is_saturday_in_utc() -> None:
    instant = datetime(2025, 6, 7, 3, 0, tzinfo=UTC)  # Saturday 03:00 UTC = Friday 20:00 in LA
    la = merchant_like("weekly", weekday=4, timezone="America/Los_Angeles")
    utc = merchant_like("weekly", weekday=4, timezone="UTC")
    assert last_payout_date(la, instant) == date(2025, 6, 6)  # today, locally
    assert last_payout_date(utc, instant) == date(2025, 6, 6)  # yesterday
    assert next_payout_date(la, instant) == date(2025, 6, 13)
    assert next_payout_date(utc, instant) == date(2025, 6, 13)


@pytest.mark.parametrize(
    ("schedule", "weekday", "day"),
    [("daily", 0, 1), ("weekly", 0, 1), ("weekly", 6, 1)]
    + [("monthly", 0, d) for d in (1, 15, 28, 29, 30, 31)],
)
def test_the_worker_pays_on_the_dates_the_dashboard_announces(
    schedule: str, weekday: int, day: int
) -> None:
    """next_payout_date (the selector the pages show) and payout_due_on (what the worker
    runs) agree on every day of two years that include 29 February 2028."""
    user = merchant_like(schedule, weekday=weekday, day=day, timezone="Africa/Lagos")
    today = date(2027, 1, 1)
    while today < date(2029, 1, 1):
        noon = datetime(today.year, today.month, today.day, 11, 0, tzinfo=UTC)
        expected = today + timedelta(days=1)
        while not payout_due_on(user, expected):
            expected += timedelta(days=1)
        assert next_payout_date(user, noon) == expected, today
        today += timedelta(days=1)


# --- scheduled payouts ---------------------------------------------------------------------


def settlements_of(merchant_id: int) -> list[Settlement]:
    with read_session() as session:
        return list(
            session.exec(
                select(Settlement)
                .where(Settlement.merchant_id == merchant_id)
                .order_by(Settlement.id)
            ).all()
        )


def available(merchant_id: int, currency: str = "USD") -> int:
    with read_session() as session:
        return available_balance(session=session, merchant_id=merchant_id, currency=currency)


def schedule_set_at(user_id: int, moment: datetime) -> User:
    """Pretend the merchant chose its payout dates at `moment` (tests run at fixed instants
    while the settings were saved just now)."""
    with write_session() as session:
        user = session.get(User, user_id)
        user.payout_schedule_since = moment
        session.add(user)
        session.commit()
        return user


@pytest.fixture
def friday_merchant(db: TestDatabase, providers: dict[str, Provider]) -> User:
    """Weekly payouts on Friday in Lagos since May 2025, 100.00 USD and 20.00 EUR available,
    30.00 USD held."""
    user = create_merchant("friday@example.com", timezone="Africa/Lagos")
    user = user_update_payout_settings(user_id=user.id, schedule="weekly", weekday=4)
    seed_available(user.id, providers["card"], 10_000, currency="USD")
    seed_available(user.id, providers["card"], 2_000, currency="EUR")
    seed_available(user.id, providers["card"], 3_000, currency="USD", days_ago=1)
    return schedule_set_at(user.id, datetime(2025, 5, 1, tzinfo=UTC))


# Friday 6 June 2025, 00:30 in Lagos (UTC+1) is still Thursday 23:30 in UTC.
FRIDAY_LAGOS = datetime(2025, 6, 5, 23, 30, tzinfo=UTC)


def test_a_scheduled_payout_takes_the_whole_available_balance_once(
    db: TestDatabase, friday_merchant: User
) -> None:
    made = payouts_run_scheduled(now=FRIDAY_LAGOS)
    assert sorted((s.currency, s.amount) for s in made) == [("EUR", 2_000), ("USD", 10_000)]
    assert {s.idempotency_key for s in made} == {
        scheduled_key(date(2025, 6, 6), "USD"),
        scheduled_key(date(2025, 6, 6), "EUR"),
    }
    assert {s.status for s in made} == {"pending"}
    assert available(friday_merchant.id) == 0 and available(friday_merchant.id, "EUR") == 0

    # Later that day, the next day, a second worker: nothing more.
    assert payouts_run_scheduled(now=FRIDAY_LAGOS + timedelta(hours=12)) == []
    assert payouts_run_scheduled(now=FRIDAY_LAGOS + timedelta(days=1)) == []
    assert len(settlements_of(friday_merchant.id)) == 2


def test_no_payout_on_other_days_or_for_manual_or_without_bank(
    db: TestDatabase, friday_merchant: User, providers: dict[str, Provider]
) -> None:
    thursday_lagos = FRIDAY_LAGOS - timedelta(hours=1)  # 23:30 Thursday in Lagos
    assert payouts_run_scheduled(now=thursday_lagos) == []

    manual = create_merchant("manual@example.com")
    user_update_payout_settings(user_id=manual.id, schedule="manual")
    seed_available(manual.id, providers["card"], 5_000)
    no_bank = create_merchant("nobank@example.com", bank=False)
    user_update_payout_settings(user_id=no_bank.id, schedule="daily")
    seed_available(no_bank.id, providers["card"], 5_000)
    made = payouts_run_scheduled(now=FRIDAY_LAGOS)
    assert {s.merchant_id for s in made} == {friday_merchant.id}
    assert settlements_of(manual.id) == [] and settlements_of(no_bank.id) == []


@pytest.mark.parametrize(("days_late", "paid"), [(1, True), (2, True), (3, False)])
def test_a_missed_payout_date_is_caught_up_for_two_days(
    db: TestDatabase, friday_merchant: User, days_late: int, paid: bool
) -> None:
    made = payouts_run_scheduled(now=FRIDAY_LAGOS + timedelta(days=days_late))
    assert bool(made) == paid
    if paid:
        assert {s.idempotency_key for s in made} == {
            scheduled_key(date(2025, 6, 6), "USD"),
            scheduled_key(date(2025, 6, 6), "EUR"),
        }


def test_monthly_on_the_31st_pays_on_29_february_in_the_merchants_zone(
    db: TestDatabase, providers: dict[str, Provider]
) -> None:
    user = create_merchant("leap@example.com", timezone="America/New_York")
    user_update_payout_settings(user_id=user.id, schedule="monthly", day_of_month=31)
    schedule_set_at(user.id, datetime(2028, 1, 1, tzinfo=UTC))
    seed_available(user.id, providers["card"], 4_200)
    # 1 March 2028 03:00 UTC is still 29 February (22:00) in New York.
    made = payouts_run_scheduled(now=datetime(2028, 3, 1, 3, 0, tzinfo=UTC))
    assert [(s.amount, s.idempotency_key) for s in made] == [(4_200, "scheduled:2028-02-29:USD")]
    # 28 February is not a payout date in a leap year.
    assert payouts_run_scheduled(now=datetime(2028, 2, 28, 17, 0, tzinfo=UTC)) == []


# --- a schedule pays only dates it was in force on -------------------------------------------


def test_a_schedule_chosen_after_its_payout_date_waits_for_the_next_one(
    db: TestDatabase, friday_merchant: User
) -> None:
    """Weekly on Friday, chosen on Saturday: the worker's first pass that Saturday must not
    pay out Friday's date at once (there was no earlier payout because there was no schedule);
    the next Friday pays as announced."""
    saturday_noon = datetime(2025, 6, 7, 11, 0, tzinfo=UTC)  # Saturday 12:00 in Lagos
    schedule_set_at(friday_merchant.id, saturday_noon)
    assert payouts_run_scheduled(now=saturday_noon + timedelta(minutes=1)) == []
    assert payouts_run_scheduled(now=saturday_noon + timedelta(days=1)) == []
    assert available(friday_merchant.id) == 10_000  # nothing was paid out

    next_friday = datetime(2025, 6, 13, 5, 0, tzinfo=UTC)  # 06:00 in Lagos
    made = payouts_run_scheduled(now=next_friday)
    assert {s.idempotency_key for s in made} == {
        scheduled_key(date(2025, 6, 13), "USD"),
        scheduled_key(date(2025, 6, 13), "EUR"),
    }


def test_a_schedule_chosen_during_its_payout_date_catches_up_the_next_day(
    db: TestDatabase, friday_merchant: User
) -> None:
    """Chosen on Friday evening while the worker was down: Friday was in force for part of
    the day, so the worker pays it out on Saturday, as it would have on Friday night."""
    schedule_set_at(friday_merchant.id, datetime(2025, 6, 6, 19, 0, tzinfo=UTC))  # 20:00 Lagos
    made = payouts_run_scheduled(now=datetime(2025, 6, 7, 8, 0, tzinfo=UTC))
    assert {s.idempotency_key for s in made} == {
        scheduled_key(date(2025, 6, 6), "USD"),
        scheduled_key(date(2025, 6, 6), "EUR"),
    }


def test_in_force_ends_at_the_merchants_local_midnight() -> None:
    user = merchant_like("weekly", weekday=4, timezone="Africa/Lagos")  # UTC+1
    friday = date(2025, 6, 6)
    user.payout_schedule_since = datetime(2025, 6, 6, 22, 59, 59, tzinfo=UTC)  # 23:59:59 local
    assert schedule_in_force_on(user, friday)
    user.payout_schedule_since = datetime(2025, 6, 6, 23, 0, tzinfo=UTC)  # Saturday 00:00 local
    assert not schedule_in_force_on(user, friday)


def test_changing_the_payout_dates_restarts_the_schedule(
    db: TestDatabase, friday_merchant: User
) -> None:
    """Saving the same dates (a new bank account, say) keeps the schedule's age; another
    weekday starts a new schedule, which does not pay the past Friday."""
    before = friday_merchant.payout_schedule_since
    same = user_update_payout_settings(
        user_id=friday_merchant.id, schedule="weekly", weekday=4, bank_name="Other Bank"
    )
    assert same.payout_schedule_since == before
    changed = user_update_payout_settings(user_id=friday_merchant.id, schedule="weekly", weekday=3)
    assert changed.payout_schedule_since > before
    changed = user_update_payout_settings(user_id=friday_merchant.id, schedule="weekly", weekday=4)
    # Now (not June 2025) is when Fridays became the payout day again: the Saturday after
    # a Friday in 2025 catches nothing up.
    assert payouts_run_scheduled(now=FRIDAY_LAGOS + timedelta(days=1)) == []

"""selectors.settlements.next_payout_date: daily, weekly, monthly (short months, leap years),
the merchant's timezone around midnight, and manual payouts."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paybridge.models import User
from paybridge.selectors.settlements import next_payout_date


def merchant(
    schedule: str, *, weekday: int = 0, day_of_month: int = 1, timezone: str = "UTC"
) -> User:
    return User(
        email="m@example.com",
        password_hash="x",
        full_name="M",
        timezone=timezone,
        payout_schedule=schedule,
        payout_weekday=weekday,
        payout_day_of_month=day_of_month,
    )


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_manual_has_no_next_payout() -> None:
    assert next_payout_date(merchant("manual"), at(2025, 1, 31)) is None


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(2025, 6, 10), date(2025, 6, 11)),
        (at(2025, 12, 31, 23, 59), date(2026, 1, 1)),
        (at(2024, 2, 28), date(2024, 2, 29)),
        (at(2025, 2, 28), date(2025, 3, 1)),
    ],
)
def test_daily_is_tomorrow(now: datetime, expected: date) -> None:
    assert next_payout_date(merchant("daily"), now) == expected


@pytest.mark.parametrize(
    ("today", "weekday", "expected"),
    [
        (date(2025, 6, 9), 0, date(2025, 6, 16)),  # Monday, pays Mondays: next week, not today
        (date(2025, 6, 9), 2, date(2025, 6, 11)),  # Monday -> Wednesday
        (date(2025, 6, 9), 6, date(2025, 6, 15)),  # Monday -> Sunday
        (date(2025, 6, 15), 0, date(2025, 6, 16)),  # Sunday -> Monday
        (date(2025, 6, 13), 4, date(2025, 6, 20)),  # Friday, pays Fridays
        (date(2025, 12, 29), 4, date(2026, 1, 2)),  # across the new year
    ],
)
def test_weekly(today: date, weekday: int, expected: date) -> None:
    now = datetime.combine(today, datetime.min.time(), UTC) + timedelta(hours=12)
    result = next_payout_date(merchant("weekly", weekday=weekday), now)
    assert result == expected
    assert result.weekday() == weekday


@pytest.mark.parametrize(
    ("now", "day_of_month", "expected"),
    [
        (at(2025, 2, 10), 31, date(2025, 2, 28)),  # day 31 in February: its last day
        (at(2024, 2, 10), 31, date(2024, 2, 29)),  # leap year
        (at(2024, 2, 10), 29, date(2024, 2, 29)),
        (at(2025, 2, 10), 29, date(2025, 2, 28)),
        (at(2025, 2, 10), 30, date(2025, 2, 28)),
        (at(2024, 2, 29), 31, date(2024, 3, 31)),  # paid today (29 Feb): next is 31 March
        (at(2025, 2, 28), 31, date(2025, 3, 31)),
        (at(2025, 4, 30), 31, date(2025, 5, 31)),  # April's last day is today
        (at(2025, 4, 15), 31, date(2025, 4, 30)),
        (at(2025, 1, 31), 30, date(2025, 2, 28)),
        (at(2025, 1, 30), 30, date(2025, 2, 28)),
        (at(2025, 1, 29), 30, date(2025, 1, 30)),
        (at(2025, 1, 31), 1, date(2025, 2, 1)),
        (at(2025, 3, 1), 1, date(2025, 4, 1)),  # paid today: next month
        (at(2025, 12, 31), 31, date(2026, 1, 31)),  # across the new year
        (at(2025, 12, 15), 1, date(2026, 1, 1)),
        (at(2100, 2, 1), 29, date(2100, 2, 28)),  # 2100 is not a leap year
        (at(2000, 2, 1), 29, date(2000, 2, 29)),  # 2000 is
    ],
)
def test_monthly(now: datetime, day_of_month: int, expected: date) -> None:
    assert next_payout_date(merchant("monthly", day_of_month=day_of_month), now) == expected


@pytest.mark.parametrize(
    ("now", "timezone", "schedule", "expected"),
    [
        # 23:30 UTC on 10 June is already 11 June in Tokyo (UTC+9).
        (at(2025, 6, 10, 23, 30), "Asia/Tokyo", "daily", date(2025, 6, 12)),
        (at(2025, 6, 10, 23, 30), "UTC", "daily", date(2025, 6, 11)),
        # 03:30 UTC on 10 June is still 9 June in New York (UTC-4 in summer).
        (at(2025, 6, 10, 3, 30), "America/New_York", "daily", date(2025, 6, 10)),
        (at(2025, 6, 10, 4, 0), "America/New_York", "daily", date(2025, 6, 11)),
        # Lagos (UTC+1): 23:00 UTC on 28 Feb 2025 is 1 March there; pays on the 1st.
        (at(2025, 2, 28, 23, 0), "Africa/Lagos", "monthly-1", date(2025, 4, 1)),
        (at(2025, 2, 28, 22, 59), "Africa/Lagos", "monthly-1", date(2025, 3, 1)),
        # Sunday 23:30 in UTC, already Monday in Tokyo; pays Mondays.
        (at(2025, 6, 15, 23, 30), "Asia/Tokyo", "weekly-0", date(2025, 6, 23)),
        (at(2025, 6, 15, 23, 30), "UTC", "weekly-0", date(2025, 6, 16)),
        # Kiribati (UTC+14) and Pago Pago (UTC-11) are two calendar days apart.
        (at(2025, 6, 10, 11, 0), "Pacific/Kiritimati", "daily", date(2025, 6, 12)),
        (at(2025, 6, 10, 11, 0), "Pacific/Pago_Pago", "daily", date(2025, 6, 11)),
    ],
)
def test_merchant_timezone_decides_today(
    now: datetime, timezone: str, schedule: str, expected: date
) -> None:
    kind, _, number = schedule.partition("-")
    user = merchant(
        kind,
        timezone=timezone,
        weekday=int(number) if kind == "weekly" else 0,
        day_of_month=int(number) if kind == "monthly" else 1,
    )
    assert next_payout_date(user, now) == expected


def test_default_now_is_the_current_time() -> None:
    today = datetime.now(UTC).date()
    result = next_payout_date(merchant("daily"))
    # Allow for the clock passing midnight between the two reads.
    assert result in (today + timedelta(days=1), today + timedelta(days=2))


def brute_force(user: User, now: datetime) -> date | None:
    """The first local day after today that matches the schedule, found by walking days."""
    today = now.astimezone(ZoneInfo(user.timezone)).date()
    if user.payout_schedule == "manual":
        return None
    day = today
    for _ in range(400):
        day += timedelta(days=1)
        if user.payout_schedule == "daily":
            return day
        if user.payout_schedule == "weekly" and day.weekday() == user.payout_weekday:
            return day
        last = calendar.monthrange(day.year, day.month)[1]
        if user.payout_schedule == "monthly" and day.day == min(user.payout_day_of_month, last):
            return day
    raise AssertionError("no payout day within 400 days")


@given(
    now=st.datetimes(
        min_value=datetime(1999, 1, 1), max_value=datetime(2101, 1, 1), timezones=st.just(UTC)
    ),
    schedule=st.sampled_from(["manual", "daily", "weekly", "monthly"]),
    weekday=st.integers(0, 6),
    day_of_month=st.integers(1, 31),
    timezone=st.sampled_from(["UTC", "Asia/Tokyo", "America/New_York", "Pacific/Kiritimati"]),
)
def test_matches_a_day_by_day_search(
    now: datetime, schedule: str, weekday: int, day_of_month: int, timezone: str
) -> None:
    user = merchant(schedule, weekday=weekday, day_of_month=day_of_month, timezone=timezone)
    assert next_payout_date(user, now) == brute_force(user, now)

"""Settlement reads: history and the next scheduled payout date."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from paybridge.models import PayoutSchedule, Settlement, User


def next_payout_date(user: User, now: datetime | None = None) -> date | None:
    """The next local date a scheduled payout runs (strictly after today); None when manual.

    Monthly payouts on day 29-31 run on the month's last day in shorter months.
    """
    today = (now or datetime.now(UTC)).astimezone(ZoneInfo(user.timezone)).date()
    schedule = user.payout_schedule
    if schedule == PayoutSchedule.DAILY:
        return today + timedelta(days=1)
    if schedule == PayoutSchedule.WEEKLY:
        ahead = (user.payout_weekday - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead)
    if schedule == PayoutSchedule.MONTHLY:
        year, month = today.year, today.month
        for _ in range(2):
            day = min(user.payout_day_of_month, calendar.monthrange(year, month)[1])
            candidate = date(year, month, day)
            if candidate > today:
                return candidate
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def recent_settlements(*, session: Session, merchant_id: int, limit: int = 10) -> list[Settlement]:
    return list(
        session.exec(
            select(Settlement)
            .where(col(Settlement.merchant_id) == merchant_id)
            .order_by(col(Settlement.created_at).desc(), col(Settlement.id).desc())
            .limit(limit)
        ).all()
    )

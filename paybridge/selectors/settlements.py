"""Settlement reads: history, the payout settings and the next scheduled payout date."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from paybridge.models import PayoutSchedule, Settlement
from paybridge.selectors.balances import AccountTerms, PayoutTerms, account_terms, hold_days_for


def next_payout_date(terms: PayoutTerms, now: datetime | None = None) -> date | None:
    """The next local date a scheduled payout runs (strictly after today); None when manual.

    Monthly payouts on day 29-31 run on the month's last day in shorter months.
    """
    today = (now or datetime.now(UTC)).astimezone(ZoneInfo(terms.timezone)).date()
    schedule = terms.payout_schedule
    if schedule == PayoutSchedule.DAILY:
        return today + timedelta(days=1)
    if schedule == PayoutSchedule.WEEKLY:
        ahead = (terms.payout_weekday - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead)
    if schedule == PayoutSchedule.MONTHLY:
        year, month = today.year, today.month
        for _ in range(2):
            day = min(terms.payout_day_of_month, calendar.monthrange(year, month)[1])
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


@dataclass(frozen=True)
class PayoutSettings:
    """How and where a merchant is paid out, as the settlements page and dashboard show it."""

    timezone: str
    schedule: str
    weekday: int
    day_of_month: int
    bank_name: str
    bank_account_masked: str
    hold_days: int
    next_payout: date | None  # None when payouts are manual


def user_payout_settings(
    *, session: Session, merchant_id: int, now: datetime | None = None
) -> PayoutSettings | None:
    """The merchant's payout settings and next payout date; None when the account is gone."""
    terms = account_terms(session=session, merchant_id=merchant_id)
    return None if terms is None else payout_settings(terms, now)


def payout_settings(terms: AccountTerms, now: datetime | None = None) -> PayoutSettings:
    return PayoutSettings(
        timezone=terms.timezone,
        schedule=terms.payout_schedule,
        weekday=terms.payout_weekday,
        day_of_month=terms.payout_day_of_month,
        bank_name=terms.bank_name,
        bank_account_masked=terms.bank_account_masked,
        hold_days=hold_days_for(terms),
        next_payout=next_payout_date(terms, now),
    )

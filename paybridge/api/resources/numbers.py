"""The analytics endpoint: the dashboard's numbers over a period of whole local days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from paybridge.api.auth import Principal
from paybridge.api.schemas import (
    AnalyticsOut,
    ChangeOut,
    DailyPointOut,
    HeadlineOut,
    ProviderStatsOut,
    StatusShareOut,
)
from paybridge.db import read_session
from paybridge.errors import DomainError
from paybridge.models import User
from paybridge.money import normalize_currency
from paybridge.selectors.analytics import dashboard_numbers
from paybridge.selectors.periods import period_for_days

DEFAULT_ANALYTICS_DAYS = 30
MAX_ANALYTICS_DAYS = 366
EARLIEST_DATE, LATEST_DATE = date(2000, 1, 1), date(2100, 12, 31)


def analytics(
    principal: Principal,
    *,
    from_date: date | None = None,
    to_date: date | None = None,
    currency: str | None = None,
) -> AnalyticsOut:
    """The dashboard's numbers for whole local days [from, to] in the merchant's timezone."""
    with read_session() as session:
        user = session.get(User, principal.merchant_id)
        if user is None:
            raise DomainError("not_found", "No such merchant.")
        code = normalize_currency(currency) if currency is not None else None
        today = datetime.now(UTC).astimezone(ZoneInfo(user.timezone)).date()
        for value, param in ((from_date, "from"), (to_date, "to")):
            if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE:
                raise DomainError(  # before any date arithmetic: 0001-01-01 minus a day fails
                    "invalid_request", f"{param} must be between 2000 and 2100.", param=param
                )
        last = to_date or today
        first = from_date or last - timedelta(days=DEFAULT_ANALYTICS_DAYS - 1)
        if first > last:
            raise DomainError("invalid_request", "from is after to.", param="from")
        if (last - first).days + 1 > MAX_ANALYTICS_DAYS:
            raise DomainError(
                "invalid_request", f"A period is at most {MAX_ANALYTICS_DAYS} days.", param="from"
            )
        period = period_for_days(first, last, user.timezone)
        numbers = dashboard_numbers(
            session=session,
            merchant_id=principal.merchant_id,
            period=period,
            currency=code,
            with_balances=False,
        )
    metrics = numbers.metrics
    cur, prev = metrics.current, metrics.previous
    return AnalyticsOut(
        currency=numbers.currency,
        from_date=first,
        to_date=last,
        timezone=user.timezone,
        current=HeadlineOut(**cur.__dict__),
        previous=HeadlineOut(**prev.__dict__),
        change=ChangeOut(**metrics.change.__dict__),
        daily=[DailyPointOut(**p.__dict__) for p in metrics.daily],
        providers=[ProviderStatsOut(**p.__dict__) for p in metrics.providers],
        statuses=[StatusShareOut(**s.__dict__) for s in metrics.statuses],
        currencies=numbers.currencies,
    )

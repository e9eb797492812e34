"""What every area shares: a page of rows as a `ListOut`, and the created-at range checks."""

from __future__ import annotations

from datetime import UTC, datetime

from paybridge.api.schemas import ListOut
from paybridge.errors import DomainError
from paybridge.selectors.pagination import Page


def list_out(page: Page, convert) -> ListOut:  # type: ignore[no-untyped-def,type-arg]
    return ListOut(data=[convert(item) for item in page.data], has_more=page.has_more)


def aware(moment: datetime | None, *, param: str) -> datetime | None:
    """Naive datetimes are taken as UTC; out-of-range ones are refused."""
    if moment is None:
        return None
    try:
        value = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise DomainError("invalid_request", f"{param} is out of range.", param=param) from None


def clean_created_range(
    created_gte: datetime | None, created_lt: datetime | None
) -> tuple[datetime | None, datetime | None]:
    return aware(created_gte, param="created_gte"), aware(created_lt, param="created_lt")

"""What every area shares: a page of rows as a `ListOut`, the created-at range checks, and a
filtered list read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from paybridge.api.auth import Principal
from paybridge.api.schemas import ListOut
from paybridge.db import read_session
from paybridge.errors import DomainError
from paybridge.selectors.pagination import Page, PageRequest

Row = TypeVar("Row")
Out = TypeVar("Out")


def list_out(page: Page[Row], convert: Callable[[Row], Out]) -> ListOut[Out]:
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


def filtered_list(
    principal: Principal,
    page: PageRequest,
    filters: Any,
    select_page: Callable[..., Page[Row]],
    convert: Callable[[Row], Out],
) -> ListOut[Out]:
    """One page of the caller's rows from `select_page(session=, merchant_id=, page=,
    filters=)`, its created-at range checked first, each row converted for the API."""
    gte, lt = clean_created_range(filters.created_gte, filters.created_lt)
    filters = replace(filters, created_gte=gte, created_lt=lt)
    with read_session() as session:
        result = select_page(
            session=session, merchant_id=principal.merchant_id, page=page, filters=filters
        )
    return list_out(result, convert)

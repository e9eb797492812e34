"""The merchant's API request log, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col

from paybridge.models import ApiLog
from paybridge.selectors.id_pages import id_page
from paybridge.selectors.pagination import Page, PageRequest


@dataclass(frozen=True)
class ApiLogFilters:
    method: str | None = None
    status_code: int | None = None
    status_class: int | None = None  # 2, 3, 4 or 5: every 2xx, 3xx, ... answer
    path_contains: str | None = None
    created_gte: datetime | None = None
    created_lt: datetime | None = None


def api_logs_page(
    *, session: Session, merchant_id: int, page: PageRequest, filters: ApiLogFilters | None = None
) -> Page[ApiLog]:
    f = filters or ApiLogFilters()
    where: list[sa.ColumnElement[bool]] = []
    if f.method is not None:
        where.append(col(ApiLog.method) == f.method.upper())
    if f.status_code is not None:
        where.append(col(ApiLog.status_code) == f.status_code)
    if f.status_class is not None:
        low = f.status_class * 100
        where.append(col(ApiLog.status_code).between(low, low + 99))
    if f.path_contains:
        where.append(col(ApiLog.endpoint).contains(f.path_contains, autoescape=True))
    if f.created_gte is not None:
        where.append(col(ApiLog.created_at) >= f.created_gte)
    if f.created_lt is not None:
        where.append(col(ApiLog.created_at) < f.created_lt)
    return id_page(session, ApiLog, merchant_id=merchant_id, page=page, where=tuple(where))

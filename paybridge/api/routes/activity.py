"""The request log and the event feed."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import Query

from paybridge.api import resources
from paybridge.api.routes.common import CurrentPrincipal, Paging, authenticated_router
from paybridge.api.schemas import ApiLogOut, EventOut, ListOut
from paybridge.events import EventType
from paybridge.selectors.api_logs import ApiLogFilters
from paybridge.selectors.event_feed import EventFilters

router = authenticated_router("activity")


@router.get(
    "/api-logs",
    response_model=ListOut[ApiLogOut],
    summary="This merchant's API requests, newest first",
    description="Written in batches about once a second, so the newest requests (this one "
    "included) may not be listed yet. Cursors are log ids.",
)
def list_api_logs(
    principal: CurrentPrincipal,
    page: Paging,
    method: Literal["GET", "POST", "PATCH", "PUT", "DELETE"] | None = None,
    status_code: int | None = Query(None, ge=100, le=599),
    created_gte: datetime | None = None,
    created_lt: datetime | None = None,
) -> ListOut[ApiLogOut]:
    filters = ApiLogFilters(
        method=method, status_code=status_code, created_gte=created_gte, created_lt=created_lt
    )
    return resources.api_logs_list(principal, page, filters)


@router.get(
    "/events",
    response_model=ListOut[EventOut],
    summary="This merchant's events, newest first",
    description="The same events webhooks deliver and the GraphQL `events` subscription "
    "streams. Cursors are event ids.",
)
def list_events(
    principal: CurrentPrincipal,
    page: Paging,
    type: EventType | None = None,
    created_gte: datetime | None = None,
    created_lt: datetime | None = None,
) -> ListOut[EventOut]:
    filters = EventFilters(
        type=type.value if type else None, created_gte=created_gte, created_lt=created_lt
    )
    return resources.events_list(principal, page, filters)

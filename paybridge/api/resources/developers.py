"""Developer tools: API keys (managed only with a login token), the request log, events."""

from __future__ import annotations

from paybridge.api.auth import Principal
from paybridge.api.errors import ApiError
from paybridge.api.resources.common import filtered_list, list_out
from paybridge.api.schemas import ApiKeyCreated, ApiKeyOut, ApiLogOut, EventOut, ListOut
from paybridge.db import read_session
from paybridge.models import ApiKey, ApiLog, Event
from paybridge.selectors.api_keys import api_keys_page
from paybridge.selectors.api_logs import ApiLogFilters, api_logs_page
from paybridge.selectors.event_feed import EventFilters, events_page
from paybridge.selectors.pagination import PageRequest
from paybridge.services import api_keys as api_key_service


def api_key_out(row: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=row.id,
        name=row.name,
        redacted=f"{api_key_service.PREFIX}…{row.last4}",
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def api_log_out(row: ApiLog) -> ApiLogOut:
    return ApiLogOut(
        id=row.id,
        endpoint=row.endpoint,
        method=row.method,
        status_code=row.status_code,
        response_time_ms=row.response_time_ms,
        created_at=row.created_at,
    )


def event_out(row: Event) -> EventOut:
    return EventOut(id=row.id, type=row.type, payload=row.payload, created_at=row.created_at)


def _require_login(principal: Principal) -> None:
    if principal.kind != "jwt":
        raise ApiError(
            "forbidden", "API keys cannot manage API keys; use an access token from /auth/token."
        )


def api_keys_list(
    principal: Principal, page: PageRequest, *, include_revoked: bool = False
) -> ListOut[ApiKeyOut]:
    with read_session() as session:
        result = api_keys_page(
            session=session,
            merchant_id=principal.merchant_id,
            page=page,
            include_revoked=include_revoked,
        )
    return list_out(result, api_key_out)


def api_key_create(principal: Principal, *, name: str = "") -> ApiKeyCreated:
    _require_login(principal)
    row, secret = api_key_service.api_key_create(
        merchant_id=principal.merchant_id, name=name, actor=principal.actor
    )
    return ApiKeyCreated(**api_key_out(row).model_dump(), secret=secret)


def api_key_revoke(principal: Principal, key_id: int) -> ApiKeyOut:
    _require_login(principal)
    return api_key_out(
        api_key_service.api_key_revoke(
            merchant_id=principal.merchant_id, key_id=key_id, actor=principal.actor
        )
    )


def api_logs_list(
    principal: Principal, page: PageRequest, filters: ApiLogFilters
) -> ListOut[ApiLogOut]:
    return filtered_list(principal, page, filters, api_logs_page, api_log_out)


def events_list(
    principal: Principal, page: PageRequest, filters: EventFilters
) -> ListOut[EventOut]:
    return filtered_list(principal, page, filters, events_page, event_out)

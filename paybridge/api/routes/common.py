"""What every route module shares: the error responses documented in OpenAPI and routers
whose POST routes honour `Idempotency-Key`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from paybridge.api.auth import Principal, require_principal
from paybridge.api.idempotency import IdempotentRoute
from paybridge.api.params import page_params
from paybridge.api.schemas import ErrorOut
from paybridge.selectors.pagination import PageRequest

# FastAPI's `responses=`: status code (or "4XX") -> OpenAPI response.
Responses = dict[int | str, dict[str, Any]]

ERRORS: Responses = {
    400: {"model": ErrorOut, "description": "Invalid request"},
    401: {"model": ErrorOut, "description": "Missing, invalid, expired or revoked credential"},
    404: {"model": ErrorOut, "description": "No such object (or another merchant's)"},
    413: {"model": ErrorOut, "description": "Body over 1 MB"},
    429: {"model": ErrorOut, "description": "Rate limited (see Retry-After)"},
    503: {"model": ErrorOut, "description": "Database or Redis unavailable; nothing written"},
    "4XX": {"model": ErrorOut, "description": "Any other refusal, in the same shape"},
}
WRITE_ERRORS: Responses = {
    **ERRORS,
    409: {"model": ErrorOut, "description": "Idempotency conflict or duplicate"},
    422: {"model": ErrorOut, "description": "Refused in the current state"},
}
# Withdrawals and refunds (`idempotency.money_write`): also refused when too many of the
# merchant's wait at once.
MONEY_WRITE_ERRORS: Responses = {
    **WRITE_ERRORS,
    429: {
        "model": ErrorOut,
        "description": "Rate limited, or too many of this account's withdrawals and refunds at "
        "once (`too_many_concurrent_writes`); see Retry-After",
    },
}


def authenticated_router(tag: str) -> APIRouter:
    """A router whose routes all require a bearer credential."""
    return APIRouter(
        tags=[tag],
        route_class=IdempotentRoute,
        dependencies=[Depends(require_principal)],
        responses=ERRORS,
    )


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
Paging = Annotated[PageRequest, Depends(page_params)]

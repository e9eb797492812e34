"""How a resolver reaches `paybridge.api.resources`: the caller's principal, the call off the
event loop, and a refusal's machine-readable code in the error's extensions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from strawberry.types import Info

from paybridge.api.auth import Principal
from paybridge.api.errors import (
    retry_after,
    status_for,
    unavailable_error,
    unavailable_errors,
)
from paybridge.errors import DomainError
from paybridge.money_gate import money_write_turn

R = TypeVar("R")
log = logging.getLogger("paybridge.api.graphql.schema")  # the name its warnings always had


def _principal(info: Info) -> Principal:
    if info.context.get("unavailable"):
        raise unavailable_error()
    principal = info.context.get("principal")
    if principal is None:
        raise DomainError(
            "authentication_required", "Send `Authorization: Bearer <access token or API key>`."
        )
    return principal


async def _call(fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """Resources are synchronous (database calls): run them off the event loop. The database
    or Redis being unreachable becomes `service_unavailable` (HTTP 503, as in REST)."""
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except unavailable_errors() as error:
        log.warning("dependency unavailable in GraphQL: %s", type(error).__name__)
        raise unavailable_error() from error


async def _money_call(fn: Callable[..., R], principal: Principal, *args: Any, **kwargs: Any) -> R:
    """`_call` for a withdrawal or refund: it first waits for the merchant's turn on the event
    loop (`paybridge.money_gate`), so that a waiting mutation holds no database connection."""
    async with money_write_turn(principal.merchant_id):
        return await _call(fn, principal, *args, **kwargs)


def error_extensions(error: DomainError) -> dict[str, Any]:
    extensions = {"code": error.code, "param": error.param, "status": status_for(error)}
    wait = retry_after(error)
    if wait is not None:
        extensions["retry_after"] = wait
    return extensions

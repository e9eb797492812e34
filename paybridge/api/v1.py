"""The public API under /api/v1: REST routes, GraphQL, OpenAPI at /api/v1/openapi.json and
interactive docs at /api/v1/docs — routers and settings that `paybridge.api.app` puts in the one
FastAPI app the backend serves (not a mounted app of their own: a second app's middleware
stack and the mount cost a seventh of a request's CPU).

Nothing here needs a lifespan (Reflex does not run the lifespans of the app it is mounted in):
the request-log writer thread starts on the first request.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from paybridge.api import errors
from paybridge.api.graphql.schema import graphql_router
from paybridge.api.middleware import ApiMiddleware
from paybridge.api.routes import (
    activity,
    auth,
    health,
    merchant,
    team,
    transactions,
    webhooks,
)
from paybridge.errors import DomainError

PREFIX = "/api/v1"

DESCRIPTION = """
PayBridge's API for merchants. Send `Authorization: Bearer <token>` with either an access token
from `POST /auth/token` or a secret API key (`sk_live_...`).

Every object says what it is in `object` (`"transaction"`, `"payout"`, `"webhook_endpoint"`,
`"api_key"`, `"event"`, ...) and carries its `id` (for payments and payouts the same as their
`reference`). operationIds name the calls (`list_transactions`, `refund_transaction`), so a
client generated from this document (e.g. with openapi-python-client) reads naturally.

Amounts are integer minor units with an ISO 4217 `currency` (1050 USD is $10.50). Lists are
newest first, `limit` 1-100 (default 10), paged with `starting_after` or `ending_before` (the id
of an object you have; not both), and answer `{"object": "list", "data": [...], "has_more"}`.

Every POST takes an `Idempotency-Key` (up to 255 characters, kept 24 hours): a retry with the
same key and body replays the first response; another body is refused with 409
`idempotency_key_reused`; a retry while the first request still runs gets 409
`idempotency_key_in_use`.

Errors are `{"error": {"code", "message", "param"}}`: 400 malformed or invalid input, 401
credential problems, 403 not allowed with this credential, 404 no such object (another
merchant's objects included), 409 conflicts, 413 bodies over 1 MB, 422 requests the current
state refuses (`insufficient_funds`, `no_bank_account`, `invalid_status_transition`,
`not_refundable`, `refund_exceeds_remaining`), 429 rate
limited or too many failed logins (with `Retry-After`), 503 `service_unavailable` while the
database or Redis is down (nothing was written; retry after `Retry-After` seconds).

Probes: `GET /health` (liveness) and `GET /ready` (database, Redis, migrations; 503 when not
ready) need no credential.

GraphQL (queries, mutations and an `events` subscription over graphql-transport-ws) is at
`/api/v1/graphql`.
"""


def operation_id(route: APIRoute) -> str:
    """A route's OpenAPI operationId is its function's name (`list_transactions`), which
    generated clients turn into calls; FastAPI's default adds the path and method."""
    return route.name


def add_v1(app: FastAPI) -> None:
    """The API's error handlers, its middleware (for /api/v1 paths) and its routes."""
    app.add_middleware(ApiMiddleware)
    app.add_exception_handler(DomainError, errors.domain_error_handler)
    app.add_exception_handler(RequestValidationError, errors.validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, errors.http_error_handler)
    for unavailable in errors.unavailable_errors():
        app.add_exception_handler(unavailable, errors.unavailable_error_handler)
    app.add_exception_handler(Exception, errors.unexpected_error_handler)
    for router in (
        health.router,
        auth.router,
        auth.keys,
        auth.secret_routes,
        merchant.router,
        merchant.payouts,
        transactions.router,
        webhooks.router,
        activity.router,
        team.public,
        team.secret_routes,
        team.router,
    ):
        app.include_router(router, prefix=PREFIX)
    app.include_router(graphql_router(), prefix=PREFIX, tags=["graphql"], include_in_schema=False)


def v1_openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of the /api/v1 routes, with paths relative to the server
    `/api/v1` (as clients generated from it expect)."""
    if app.openapi_schema is None:
        document = get_openapi(
            title="PayBridge API",
            version="1.0.0",
            description=DESCRIPTION,
            routes=app.routes,
        )
        document["paths"] = {
            path.removeprefix(PREFIX): operations
            for path, operations in document.get("paths", {}).items()
            if path.startswith(PREFIX + "/")
        }
        document["servers"] = [{"url": PREFIX}]
        app.openapi_schema = document
    return app.openapi_schema

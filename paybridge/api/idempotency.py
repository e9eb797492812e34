"""`Idempotency-Key` for POST routes, as a FastAPI route class.

The first request with a key claims it (a unique row, so concurrent requests with one key
execute once: the others get 409 `idempotency_request_in_progress`), runs, and stores its
response for 24 hours; a retry with the same body gets that response again (header
`Idempotent-Replayed: true`); the same key with another body gets 409
`idempotency_key_reused`. Invalid input (schema validation) and server errors are not stored,
so the key can be retried at once.

The claim, the route's write and the stored response are one database transaction (a unit of
work the route's service calls join), so they commit together or not at all: when the reply
to a committed request is lost (the database connection dies between COMMIT and its
acknowledgement, the answer is a 503), the retry replays the stored response instead of
writing again; when the request rolled back, the key is free at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Header, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from paybridge.api.auth import authenticate
from paybridge.api.errors import error_response
from paybridge.db import Unit, unit_activate, unit_begin, unit_deactivate
from paybridge.errors import DomainError
from paybridge.services.idempotency import (
    Claim,
    Replay,
    idempotency_claim,
    idempotency_complete,
    idempotency_release,
    request_fingerprint,
)
from paybridge.validation import clean_idempotency_key

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


def idempotency_key_header(
    idempotency_key: str | None = Header(
        default=None,
        alias=HEADER,
        max_length=255,
        description="Up to 255 characters. Retrying with the same key and body replays the "
        "first response for 24 hours; the same key with another body is refused with 409.",
    ),
) -> str | None:
    """Documents the header in OpenAPI; the route class does the work."""
    return idempotency_key


class IdempotentRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def idempotent_handler(request: Request) -> Response:
            raw_key = request.headers.get(HEADER)
            if request.method != "POST" or raw_key is None:
                return await handler(request)
            try:
                key = clean_idempotency_key(raw_key, param=HEADER)
                principal = await run_in_threadpool(authenticate, request)
                body = await request.body()
            except DomainError as error:
                return error_response(error)
            # One transaction for the claim, the write and the stored response: they commit
            # together or not at all (see paybridge.services.idempotency).
            unit = await run_in_threadpool(unit_begin)
            token = unit_activate(unit)
            try:
                return await _run_in_unit(handler, request, unit, principal.merchant_id, key, body)
            finally:
                unit_deactivate(token)

        return idempotent_handler


async def _run_in_unit(
    handler: Callable[[Request], Awaitable[Response]],
    request: Request,
    unit: Unit,
    merchant_id: int,
    key: str,
    body: bytes,
) -> Response:
    finished = False
    try:
        try:
            outcome = await run_in_threadpool(
                lambda: idempotency_claim(
                    merchant_id=merchant_id,
                    key=key,
                    method=request.method,
                    path=request.url.path,
                    request_hash=request_fingerprint(request.method, request.url.path, body),
                )
            )
        except DomainError as error:
            return error_response(error)
        if isinstance(outcome, Replay):
            return Response(
                content=outcome.body,
                status_code=outcome.status,
                media_type="application/json",
                headers={REPLAYED_HEADER: "true"},
            )
        try:
            response = await handler(request)
        except DomainError as error:
            response = error_response(error)
        # Invalid input (schema validation) and anything unexpected raise: nothing is kept, so
        # the key can be used again at once. So do server errors answered without raising.
        if response.status_code >= 500:
            return response
        content = getattr(response, "body", None)
        if isinstance(content, bytes):
            await run_in_threadpool(
                _complete_and_commit, unit, outcome, response.status_code, content.decode()
            )
        else:  # a streamed answer cannot be replayed: keep the write, forget the key
            await run_in_threadpool(_release_and_commit, unit, outcome)
        finished = True
        return response
    finally:
        if not finished:
            await run_in_threadpool(unit.rollback)


def _complete_and_commit(unit: Unit, claim: Claim, status: int, body: str) -> None:
    idempotency_complete(claim=claim, status=status, body=body)
    unit.commit()


def _release_and_commit(unit: Unit, claim: Claim) -> None:
    idempotency_release(claim=claim)
    unit.commit()

"""`Idempotency-Key` for POST routes, as a FastAPI route class.

The first request with a key claims it (a unique row, so concurrent requests with one key
execute once: the others get 409 `idempotency_request_in_progress`), runs, and stores its
response for 24 hours; a retry with the same body gets that response again (header
`Idempotent-Replayed: true`); the same key with another body gets 409
`idempotency_key_reused`. Invalid input (schema validation) and server errors are not stored,
so the key can be retried at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from paybridge.api.auth import authenticate
from paybridge.api.errors import error_response
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
                outcome = await run_in_threadpool(
                    lambda: idempotency_claim(
                        merchant_id=principal.merchant_id,
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
            return await _run_claimed(handler, request, outcome)

        return idempotent_handler


async def _run_claimed(
    handler: Callable[[Request], Awaitable[Response]], request: Request, claim: Claim
) -> Response:
    try:
        response = await handler(request)
    except RequestValidationError:
        await run_in_threadpool(idempotency_release, claim=claim)
        raise
    except DomainError as error:
        response = error_response(error)
    except BaseException:
        await run_in_threadpool(idempotency_release, claim=claim)
        raise
    body = getattr(response, "body", None)
    if response.status_code >= 500 or not isinstance(body, bytes):
        await run_in_threadpool(idempotency_release, claim=claim)
        return response
    await run_in_threadpool(
        idempotency_complete, claim=claim, status=response.status_code, body=body.decode()
    )
    return response

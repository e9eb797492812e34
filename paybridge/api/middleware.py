"""ASGI middleware of the API (/api/v1 paths only): the request id, the 1 MB body limit, plain
query parameters and the request log.

Every request gets an id: the caller's `X-Request-Id` when it is a sane token, a new one
otherwise. It is answered in `X-Request-Id`, set on log lines written while serving the request,
and stored on the request's `ApiLog` row and on the outbox events the request wrote."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paybridge.api.auth import SCOPE_KEY
from paybridge.api.errors import error_body, error_response
from paybridge.api.graphql import schema as graphql_schema
from paybridge.api.request_log import api_logs
from paybridge.api.routes.health import PROBE_PATHS
from paybridge.errors import DomainError
from paybridge.logs import accept_request_id, request_id_var
from paybridge.validation import refuse_control_characters

MAX_BODY_BYTES = 1024 * 1024
API_PREFIX = "/api/v1/"
GRAPHQL_PATH = API_PREFIX.rstrip("/") + graphql_schema.PATH


class ApiMiddleware:
    def __init__(self, app: ASGIApp, *, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}
        headers = dict(scope.get("headers") or [])
        request_id = accept_request_id(
            headers.get(b"x-request-id", b"").decode("latin-1").strip() or None
        )
        token = request_id_var.set(request_id)

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message = {
                    **message,
                    "headers": [
                        *(
                            (name, value)
                            for name, value in message.get("headers", [])
                            if name.lower() != b"x-request-id"
                        ),
                        (b"x-request-id", request_id.encode()),
                    ],
                }
            await send(message)

        try:
            replay = await self._read_body(scope, receive)
            if replay is None:
                await _too_large(send_logged, self.max_body)
                return
            refusal = query_refusal(scope)
            if refusal is not None:
                await refusal(scope, replay, send_logged)
                return
            await self.app(scope, replay, send_logged)
        finally:
            principal = scope.get(SCOPE_KEY)
            route_path = getattr(scope.get("route"), "path", None)
            endpoint = full_route(route_path) if route_path is not None else scope.get("path", "")
            if endpoint not in PROBE_PATHS:  # load balancer probes would drown the log
                api_logs.add(
                    merchant_id=principal.merchant_id if principal is not None else None,
                    endpoint=endpoint,
                    method=scope.get("method", ""),
                    status_code=status["code"],
                    response_time_ms=round((time.perf_counter() - started) * 1000),
                    request_id=request_id,
                )
            request_id_var.reset(token)

    async def _read_body(self, scope: Scope, receive: Receive) -> Receive | None:
        """Read the whole body (at most the limit) up front; None when it is too large."""
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            text = declared.decode("latin-1").strip()
            if not text.isdigit() or int(text) > self.max_body:
                return None
        chunks: list[bytes] = []
        size = 0
        more = True
        disconnect: Message | None = None
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnect = message
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                if disconnect is not None:
                    return disconnect
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay


def query_refusal(scope: Scope) -> Response | None:
    """A REST request whose query parameters hold a control character is refused before any
    route reads them (filters went to PostgreSQL as they came, and a NUL byte answered 500).
    GraphQL is left out: a query sent by GET has newlines. Here rather than a dependency of
    every route: FastAPI solving one costs every request tens of µs of event-loop CPU, and
    most requests (every POST) have no query string at all."""
    raw = scope.get("query_string", b"")
    if not raw or scope["path"] == GRAPHQL_PATH:
        return None
    try:
        for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
            refuse_control_characters(value, param=name)
    except DomainError as error:
        return error_response(error)
    return None


async def _too_large(send: Send, limit: int) -> None:
    import json

    payload = json.dumps(
        error_body("request_too_large", f"Request bodies are limited to {limit // 1024} KiB.")
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def full_route(route_path: str) -> str:
    """The route template a request matched, with the /api/v1 prefix (FastAPI reports an included
    router's routes by their own path, without the prefix they were included under)."""
    return route_path if route_path.startswith(API_PREFIX) else API_PREFIX.rstrip("/") + route_path

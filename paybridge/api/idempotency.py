"""`Idempotency-Key` for POST routes, as a FastAPI route class.

The first request with a key claims it, runs, and stores its response for 24 hours; a retry
with the same body gets that response again (header `Idempotent-Replayed: true`); the same key
with another body gets 409 `idempotency_key_reused`; a retry while the first request is still
running gets 409 `idempotency_key_in_use`. Invalid input (schema validation) never reaches the
endpoint, so it claims nothing and the key can be retried at once; a refusal by the service
(`insufficient_funds`, ...) is stored and replayed like any answer, and changes nothing else.

The claim, the endpoint's writes and the stored response are ONE database transaction, and that
transaction lives entirely inside the endpoint's worker thread (`paybridge.db.in_unit`): it is
begun, committed or rolled back there and its connection goes back to the pool there. The
request's coroutine never holds a connection across an await, so a client that disconnects or
times out, a cancelled request, or a thread pool that is busy cannot leave a transaction open
holding row locks. A deadlock or serialization failure reruns the whole unit, claim included.

When the answer to a committed request cannot be delivered (the client is gone), the payment
or payout stands; the client's retry with the same key gets the stored answer.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from paybridge import metrics
from paybridge.api.auth import Principal, require_principal
from paybridge.api.direct_body import direct_handler, is_direct
from paybridge.api.errors import error_response
from paybridge.db import current_unit, in_unit
from paybridge.errors import DomainError
from paybridge.money_gate import money_write_turn
from paybridge.services.idempotency import (
    NOT_JSON,
    KeyedRequest,
    Replay,
    idempotency_claim,
    idempotency_complete,
    idempotency_refuse_reuse,
    idempotency_release,
    request_fingerprint,
)
from paybridge.validation import clean_idempotency_key

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


# The header as OpenAPI documents it on every POST of an IdempotentRoute. Not a FastAPI
# parameter: the route class reads and checks the header itself, and as a dependency it cost
# every POST 15-25 µs of event-loop CPU to extract a value nothing used (bench/HISTORY.md).
KEY_PARAMETER: dict[str, Any] = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "title": HEADER},
    "description": "Up to 255 characters. Retrying with the same key and body replays the "
    "first response for 24 hours; the same key with another body is refused with 409.",
}


# Set by the request's coroutine, read by the endpoint in its worker thread (the thread runs
# in a copy of the coroutine's context).
_keyed: ContextVar[KeyedRequest | None] = ContextVar("paybridge_keyed_request", default=None)


class _Unstored(Exception):
    """A server error answered without raising: roll the unit back, keep nothing, answer it."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _client_gone(path: str) -> None:
    """The request was cancelled before its answer (a server or middleware that cancels on
    disconnect; Granian lets the request finish and drops the answer). Its unit of work was not
    interrupted: it committed or rolled back in its own thread, and a retry with the same key
    gets whatever it stored."""
    metrics.increment("answers_undelivered")
    log.warning("client gave up on POST %s before its answer; the unit of work finished", path)


def replay_response(replay: Replay) -> Response:
    return Response(
        content=replay.body,
        status_code=replay.status,
        media_type="application/json",
        headers={REPLAYED_HEADER: "true"},
    )


def current_keyed_request() -> KeyedRequest | None:
    """The checked Idempotency-Key of the request being served (None without one): for an
    endpoint that stores its answers itself (`keys_handled_by_endpoint`) or records the key
    (a withdrawal's payout)."""
    return _keyed.get()


def keys_handled_by_endpoint(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an endpoint that claims its request's key and stores its answer itself, in its own
    unit of work (payment ingest writes many requests' payments and keys together)."""
    endpoint._paybridge_handles_keys = True  # type: ignore[attr-defined]
    return endpoint


def money_write(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a (sync) endpoint that can lower the merchant's available balance: it waits for the
    merchant's turn (`paybridge.money_gate`) on the event loop before it takes a thread and a
    database connection. Its `Principal` argument names the merchant."""
    endpoint._paybridge_money_write = True  # type: ignore[attr-defined]
    return endpoint


def _in_threadpool(endpoint: Callable[..., Any]) -> Callable[..., Coroutine[Any, Any, Any]]:
    """A sync endpoint as a coroutine that runs it in the threadpool. FastAPI runs a sync
    endpoint in a thread and then validates its response in a second one; as a coroutine its
    response is validated on the event loop, one thread hop fewer a request."""
    if getattr(endpoint, "_paybridge_money_write", False):
        return _in_merchant_turn(endpoint)

    @functools.wraps(endpoint)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(endpoint, *args, **kwargs)

    return run


def _in_merchant_turn(endpoint: Callable[..., Any]) -> Callable[..., Coroutine[Any, Any, Any]]:
    """`_in_threadpool` for a `money_write`: the thread (and with a key, the whole unit of
    work: claim, write, stored answer) runs only in the merchant's turn."""

    @functools.wraps(endpoint)
    async def run(*args: Any, **kwargs: Any) -> Any:
        principal = next(v for v in kwargs.values() if isinstance(v, Principal))
        async with money_write_turn(principal.merchant_id):
            return await run_in_threadpool(endpoint, *args, **kwargs)

    return run


def _with_key_parameter(extra: dict[str, Any] | None) -> dict[str, Any]:
    """`openapi_extra` that documents the header (once: include_router builds the route again
    from the first one's arguments)."""
    extra = dict(extra or {})
    parameters = list(extra.get("parameters", []))
    if all(parameter.get("name") != HEADER for parameter in parameters):
        parameters.append(KEY_PARAMETER)
    extra["parameters"] = parameters
    return extra


def _solved_once(dependant: Dependant) -> None:
    """Drop a router's unnamed dependency that the endpoint also takes as a parameter (the
    guard `Depends(require_principal)` beside `principal: CurrentPrincipal`): FastAPI runs the
    second from its cache, but only after a whole pass of its solver (path, query, header and
    cookie parameters read again), ~8 % of a payment's POST on the loop. The endpoint's
    dependency is the same call at the same point, so the guard still stands."""
    named = {d.cache_key for d in dependant.dependencies if d.name is not None}
    dependant.dependencies[:] = [
        d for d in dependant.dependencies if d.name is not None or d.cache_key not in named
    ]


class IdempotentRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        methods = kwargs.get("methods") or ()
        if "POST" in methods:
            kwargs["openapi_extra"] = _with_key_parameter(kwargs.get("openapi_extra"))
        if "POST" in methods and not getattr(endpoint, "_paybridge_handles_keys", False):
            endpoint = self._in_unit_when_keyed(endpoint)
            # include_router builds the route again from this endpoint: do not wrap it twice
            endpoint._paybridge_handles_keys = True  # type: ignore[attr-defined]
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = _in_threadpool(endpoint)
        super().__init__(path, endpoint, **kwargs)
        _solved_once(self.dependant)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if is_direct(self):
            handler = direct_handler(self, handler, self._render)

        async def keyed_handler(request: Request) -> Response:
            raw_key = request.headers.get(HEADER)
            if request.method != "POST" or raw_key is None:
                return await handler(request)
            try:
                key = clean_idempotency_key(raw_key, param=HEADER)
                principal = await require_principal(request)
                body = await request.body()
            except DomainError as error:
                return error_response(error)
            try:  # parsed once: FastAPI reads the same parse (the request keeps it)
                document = await request.json()
            except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
                document = NOT_JSON
            path = request.scope["path"]  # what `request.url.path` is for a matched route
            keyed = KeyedRequest(
                merchant_id=principal.merchant_id,
                key=key,
                method=request.method,
                path=path,
                request_hash=request_fingerprint(request.method, path, body, document),
            )
            token = _keyed.set(keyed)
            try:
                return await handler(request)
            except RequestValidationError:
                await run_in_threadpool(
                    idempotency_refuse_reuse,
                    merchant_id=keyed.merchant_id,
                    key=keyed.key,
                    request_hash=keyed.request_hash,
                )
                raise
            except asyncio.CancelledError:
                _client_gone(path)
                raise
            finally:
                _keyed.reset(token)

        return keyed_handler

    def _in_unit_when_keyed(self, endpoint: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap a (sync) endpoint: with a key, claim, run and store in one unit of work."""

        @functools.wraps(endpoint)
        def run(*args: Any, **kwargs: Any) -> Any:
            keyed = _keyed.get()
            if keyed is None:
                return endpoint(*args, **kwargs)
            try:
                return in_unit(lambda: self._answer_once(keyed, endpoint, args, kwargs))
            except _Unstored as unstored:
                return unstored.response

        return run

    def _answer_once(
        self,
        keyed: KeyedRequest,
        endpoint: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Response:
        outcome = idempotency_claim(keyed)
        if isinstance(outcome, Replay):
            return replay_response(outcome)
        unit = current_unit()
        assert unit is not None
        # Whatever the endpoint writes sits in a savepoint: a refusal undoes all of it and
        # keeps only the claim with the stored refusal.
        attempt = unit.connection.begin_nested()
        try:
            response = self._render(endpoint(*args, **kwargs))
            attempt.commit()
        except DomainError as error:
            attempt.rollback()
            response = error_response(error)
        if response.status_code >= 500:
            raise _Unstored(response)
        content = getattr(response, "body", None)
        if isinstance(content, bytes):
            idempotency_complete(claim=outcome, status=response.status_code, body=content.decode())
        else:  # a streamed answer cannot be replayed: keep the write, forget the key
            idempotency_release(claim=outcome)
        return response

    def _render(self, result: Any) -> Response:
        """The endpoint's return value as the bytes FastAPI itself would send."""
        if isinstance(result, Response):
            return result
        status = self.status_code or 200
        field = self.response_field
        if field is None:
            return JSONResponse(jsonable_encoder(result), status_code=status)
        value, errors = field.validate(result, {}, loc=("response",))
        if errors:
            raise ResponseValidationError(errors=errors, body=result)
        content = field.serialize_json(
            value,
            include=self.response_model_include,
            exclude=self.response_model_exclude,
            by_alias=self.response_model_by_alias,
            exclude_unset=self.response_model_exclude_unset,
            exclude_defaults=self.response_model_exclude_defaults,
            exclude_none=self.response_model_exclude_none,
        )
        return Response(content=content, status_code=status, media_type="application/json")

"""A hot POST route served without FastAPI's request handler when its request is plain JSON.

FastAPI's handler reads the content type through `email.message`, runs its whole dependency
solver (every kind of parameter looked for, an exit stack entered) and then the endpoint: for
payment ingest that machinery cost more of the event loop than the endpoint itself. A route
marked `direct_json_body` takes exactly a JSON body and the caller (`require_principal`); when
a request says `Content-Type: application/json` and its body is valid, the route checks the
caller, validates the body with FastAPI's own field and calls the endpoint itself. Any other
request (no or another content type, malformed JSON, an invalid body) goes to FastAPI's
handler as before, so every refusal keeps the shape and the order FastAPI gives it: the
credential first, then the body.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from paybridge.api.auth import require_principal

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def direct_json_body(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an async endpoint of (JSON body model, principal) for the direct path."""
    endpoint._paybridge_direct_body = True  # type: ignore[attr-defined]
    return endpoint


def is_direct(route: APIRoute) -> bool:
    return getattr(route.endpoint, "_paybridge_direct_body", False)


def direct_handler(
    route: APIRoute, fastapi_handler: Handler, render: Callable[[Any], Response]
) -> Handler:
    """`fastapi_handler` with the direct path in front (see the module docstring). `render`
    turns the endpoint's result into the response FastAPI would have sent."""
    body_name, principal_name = _direct_parameters(route)
    body_field = route.body_field
    assert body_field is not None
    endpoint = route.dependant.call
    assert endpoint is not None

    async def handler(request: Request) -> Response:
        if not _says_json(request.headers.get("content-type")) or not await request.body():
            return await fastapi_handler(request)
        try:
            document = await request.json()
        except (ValueError, RecursionError):
            return await fastapi_handler(request)
        value, errors = body_field.validate(document, {}, loc=("body",))
        if errors:
            return await fastapi_handler(request)
        principal = await require_principal(request)
        return render(await endpoint(**{body_name: value, principal_name: principal}))

    return handler


def _says_json(content_type: str | None) -> bool:
    """The plain JSON content type, with or without a charset (FastAPI decides the rest)."""
    if content_type is None:
        return False
    kind, _, params = content_type.partition(";")
    return kind.strip().lower() == "application/json" and params.strip().lower() in (
        "",
        "charset=utf-8",
    )


def _direct_parameters(route: APIRoute) -> tuple[str, str]:
    """(body parameter, principal parameter) of a route fit for the direct path; a route
    that takes anything else is a mistake in the code, refused when the app is built."""
    dependant = route.dependant
    # the router's guard `Depends(require_principal)` may still be there beside the named one
    named = [d for d in dependant.dependencies if d.name is not None]
    fits = (
        inspect.iscoroutinefunction(dependant.call)
        and len(dependant.body_params) == 1
        and not (
            dependant.path_params
            or dependant.query_params
            or dependant.header_params
            or dependant.cookie_params
        )
        and len(named) == 1
        and all(d.call is require_principal for d in dependant.dependencies)
        and dependant.request_param_name is None
        and dependant.response_param_name is None
        and dependant.background_tasks_param_name is None
    )
    if not fits:
        raise TypeError(
            f"{route.path}: a direct_json_body endpoint takes one JSON body and the principal"
        )
    return dependant.body_params[0].name, named[0].name  # type: ignore[return-value]

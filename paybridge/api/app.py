"""The one FastAPI app of the backend, which Reflex mounts itself inside
(`rx.App(api_transformer=...)`), so these routes answer on the same port as the UI in
production: the public API under /api/v1 (`paybridge.api.v1`) and the pages' HTTP helpers
(login completion, CSV export)."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from paybridge.api import exports, web_auth
from paybridge.api.middleware import ApiMiddleware
from paybridge.api.routing import ShortPath, route_by_table
from paybridge.api.security import secure
from paybridge.api.v1 import PREFIX, add_v1, operation_id, v1_openapi


def build_api() -> FastAPI:
    api = FastAPI(
        title="PayBridge API",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        generate_unique_id_function=operation_id,
    )
    add_v1(api)
    api.include_router(web_auth.router)
    api.include_router(exports.router)
    api.openapi = lambda: v1_openapi(api)  # type: ignore[method-assign]
    # Starlette tries the routes in order, a regex each: a payment's POST was tried against
    # 16 routes before its own (~4 % of its time on the loop), a GET of /profile against 12.
    route_by_table(api.router)
    return api


api = build_api()


def served_api(app: FastAPI) -> ASGIApp:
    """`app` (the API) as the backend serves it: its security layer, then the short path to
    a route for what the route table holds and the whole app for the rest."""
    return secure(ShortPath(app, ApiMiddleware))


def api_first(backend: ASGIApp) -> ASGIApp:
    """The backend as served: HTTP requests under /api/v1/ go straight to the API (inside its
    security layer), everything else (pages' websocket, `/ping`, lifespan) to `backend`.

    Reflex wraps all it serves in a Starlette app of its own (an error page, CORS, its
    contexts, an exception handler, a router and a mount: a coroutine frame each per
    request), around our API, which has its own error handling and CORS. An API call needs
    none of it: skipping it saves ~60 µs of the ~375 µs an authenticated GET costs in
    process (bench/HISTORY.md, "Fourth pass"). Inside, most API requests skip the API's own
    outer layers too (`ShortPath`)."""
    direct = served_api(api)
    prefix = PREFIX + "/"

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(prefix):
            await direct(scope, receive, send)
        else:
            await backend(scope, receive, send)

    return serve

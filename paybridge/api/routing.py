"""An API request's route found by one lookup instead of Starlette's scan, and served without
the application's layers around the router when nothing needs them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from typing import Any

from fastapi import FastAPI
from starlette._utils import is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.routing import Match, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RouteTable:
    """The router with the route of every (method, path) that has no path parameters worked out
    once. Starlette tries every route in turn, a regex each, for every request: a GET of
    `/profile` ran twelve of them. Only a pair the scan itself would give to that route is in
    the table, so which route answers is unchanged; a path with parameters, a request under a
    root path, a websocket or an unknown path goes to the scan as before."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.scan = router.middleware_stack
        self.table: dict[tuple[str, str], Route] = {}
        for route in router.routes:
            if isinstance(route, Route) and route.methods and not route.param_convertors:
                for method in route.methods:
                    if _scanned(router, method, route.path) is route:
                        self.table[(method, route.path)] = route

    def matched(self, scope: Scope) -> Route | None:
        """The table's route for this request, entered in its scope as the scan's full match
        would; None when the request is the scan's to answer."""
        if scope["type"] != "http" or scope.get("root_path"):
            return None
        route = self.table.get((scope["method"], scope["path"]))
        if route is not None:
            scope.setdefault("router", self.router)
            scope["route"] = route
            scope["endpoint"] = route.endpoint
            scope["path_params"] = dict(scope.get("path_params", {}))
        return route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.matched(scope)
        if route is not None:
            await route.handle(scope, receive, send)
        else:
            await self.scan(scope, receive, send)


def _scanned(router: Router, method: str, path: str) -> Route | None:
    """The route the router's scan answers `method path` with."""
    scope: Scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for route in router.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route if isinstance(route, Route) else None
    return None


def route_by_table(router: Router) -> RouteTable:
    """Serve `router` through a `RouteTable` of its routes as they are now."""
    if router.middleware_stack != router.app:
        raise RuntimeError("the route table replaces a router's scan, not its middleware")
    table = RouteTable(router)
    router.middleware_stack = table
    return table


class ShortPath:
    """The API as served: a request to a table route that is not cross-origin goes to its
    route inside `inner` (the API's own middleware), without the application's layers; any
    other request to the whole application.

    Starlette puts six layers between the server and the router (the server-error page,
    CORS, the API's middleware, the exception handlers, FastAPI's exit stack, the router),
    a coroutine frame each way for every request: ~20 µs of the event loop's CPU a request
    (`GET /health` in process 86-90 against 67-69 µs, bench/HISTORY.md "Thirteenth pass").
    A route's own handler already answers the errors the app has handlers for; what the
    layers still did for a table route is done here: the app and its handlers in the scope,
    the exit stack FastAPI closes files with, and an unexpected error answered by the app's
    handler for `Exception` and raised on to the server. A request with an `Origin` header
    takes the whole application, where CORS answers it; the others' answers say
    `Vary: Origin` as CORS says on every answer, so that no cache hands them to a
    cross-origin request."""

    def __init__(self, app: FastAPI, inner: Callable[[ASGIApp], ASGIApp]) -> None:
        table = app.router.middleware_stack
        if not isinstance(table, RouteTable):
            raise RuntimeError("the short path serves the routes of a route table")
        self.app = app
        self.table = table
        self.short = inner(self._route)
        # What Starlette's exception layer puts in the scope for the route's own handler.
        layer = ExceptionMiddleware(
            table,
            handlers={k: v for k, v in app.exception_handlers.items() if k not in (500, Exception)},
        )
        self.handlers = (layer._exception_handlers, layer._status_handlers)
        self.unexpected = app.exception_handlers.get(Exception) or app.exception_handlers.get(500)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _cross_origin(scope) or self.table.matched(scope) is None:
            await self.app(scope, receive, send)
        else:
            await self.short(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def send_watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": _varying_by_origin(message.get("headers", []))}
            await send(message)

        scope["app"] = self.app
        scope["starlette.exception_handlers"] = self.handlers
        try:
            async with AsyncExitStack() as files:
                scope["fastapi_middleware_astack"] = files
                await scope["route"].handle(scope, receive, send_watched)
        except Exception as error:
            handler: Any = self.unexpected
            if not started and handler is not None:
                request = Request(scope)
                response = (
                    await handler(request, error)
                    if is_async_callable(handler)
                    else await run_in_threadpool(handler, request, error)
                )
                await response(scope, receive, send_watched)
            raise


def _varying_by_origin(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` with Origin added to `Vary`, as Starlette's CORS layer leaves them."""
    kept: list[tuple[bytes, bytes]] = []
    varies: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        (varies if name.lower() == b"vary" else kept).append((name, value))
    return [*kept, (b"vary", b", ".join([*(value for _, value in varies), b"Origin"]))]


def _cross_origin(scope: Scope) -> bool:
    return any(name == b"origin" for name, _ in scope.get("headers") or ())

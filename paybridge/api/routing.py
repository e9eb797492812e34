"""An API request's route found by one lookup instead of Starlette's scan."""

from __future__ import annotations

from starlette.routing import Match, Route, Router
from starlette.types import Receive, Scope, Send


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            route = self.table.get((scope["method"], scope["path"]))
            if route is not None:
                # What the scan's full match puts in the scope.
                scope.setdefault("router", self.router)
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = dict(scope.get("path_params", {}))
                await route.handle(scope, receive, send)
                return
        await self.scan(scope, receive, send)


def _scanned(router: Router, method: str, path: str) -> Route | None:
    """The route the router's scan answers `method path` with."""
    scope: Scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for route in router.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route if isinstance(route, Route) else None
    return None


def route_by_table(router: Router) -> None:
    """Serve `router` through a `RouteTable` of its routes as they are now."""
    if router.middleware_stack != router.app:
        raise RuntimeError("the route table replaces a router's scan, not its middleware")
    router.middleware_stack = RouteTable(router)

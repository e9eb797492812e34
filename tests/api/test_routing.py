"""The route table answers every request with the route Starlette's scan would have chosen, and
the short path serves its routes as the whole app would."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from paybridge.api.routing import RouteTable, ShortPath, route_by_table


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{name}")
    def item(name: str) -> dict[str, str]:
        return {"route": "item", "name": name}

    @app.get("/items/special")
    def special() -> dict[str, str]:  # shadowed: the scan gives /items/special to `item`
        return {"route": "special"}

    @app.get("/profile")
    def profile(request: Request) -> dict[str, object]:
        return {
            "route": "profile",
            "params": request.path_params,
            "router": "router" in request.scope,
        }

    @app.post("/payments")
    def pay() -> dict[str, str]:
        return {"route": "pay"}

    @app.get("/payments")
    def payments() -> dict[str, str]:
        return {"route": "payments"}

    route_by_table(app.router)
    return app


def test_a_static_route_is_found_in_the_table_with_the_scope_the_scan_gives() -> None:
    app = _app()
    table = app.router.middleware_stack
    assert isinstance(table, RouteTable)
    assert ("GET", "/profile") in table.table and ("POST", "/payments") in table.table
    client = TestClient(app)
    assert client.get("/profile").json() == {"route": "profile", "params": {}, "router": True}
    assert client.post("/payments").json() == {"route": "pay"}
    assert client.get("/payments").json() == {"route": "payments"}


def test_a_static_path_an_earlier_route_matches_keeps_going_to_that_route() -> None:
    app = _app()
    assert ("GET", "/items/special") not in app.router.middleware_stack.table
    client = TestClient(app)
    assert client.get("/items/special").json() == {"route": "item", "name": "special"}
    assert client.get("/items/abc").json() == {"route": "item", "name": "abc"}


def test_what_the_table_does_not_hold_is_answered_as_before() -> None:
    client = TestClient(_app(), follow_redirects=False)
    wrong_method = client.delete("/payments")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"  # Starlette's own: the first route's methods
    assert client.get("/nowhere").status_code == 404
    redirect = client.get("/profile/")
    assert redirect.status_code == 307 and redirect.headers["location"].endswith("/profile")
    assert TestClient(_app(), root_path="/under").get("/under/profile").json()["route"] == "profile"


class Boom(Exception):
    pass


def _served() -> tuple[ShortPath, list[str]]:
    """A small app with CORS and handlers as the API has them, behind the short path; the list
    records which requests went through the short path's inner layer."""
    app = FastAPI()
    app.add_middleware(CORSMiddleware, allow_origins=["https://shop.example"], allow_methods=["*"])
    app.add_exception_handler(Boom, lambda _r, _e: JSONResponse({"handled": "boom"}, 418))
    app.add_exception_handler(
        Exception, lambda _r, _e: JSONResponse({"error": "internal_error"}, status_code=500)
    )

    @app.get("/boom")
    def boom() -> None:
        raise Boom

    @app.get("/broken")
    def broken() -> None:
        raise RuntimeError("a bug")

    @app.get("/missing")
    def missing() -> None:
        raise HTTPException(404, "no such thing")

    @app.get("/where")
    def where(request: Request) -> dict[str, object]:
        return {"app": request.app is app, "route": request.scope["route"].path}

    route_by_table(app.router)
    short: list[str] = []

    def inner(route: ASGIApp) -> ASGIApp:
        async def layer(scope: Scope, receive: Receive, send: Send) -> None:
            short.append(scope["path"])
            await route(scope, receive, send)

        return layer

    return ShortPath(app, inner), short


def test_a_table_route_is_served_on_the_short_path_with_the_scope_the_app_gives() -> None:
    served, short = _served()
    client = TestClient(served)
    where = client.get("/where")
    assert where.json() == {"app": True, "route": "/where"}
    assert where.headers["vary"] == "Origin"  # as the CORS layer says on every answer
    assert client.get("/boom").json() == {"handled": "boom"}  # the app's handlers answer
    missing = client.get("/missing")
    assert missing.status_code == 404 and missing.json() == {"detail": "no such thing"}
    assert short == ["/where", "/boom", "/missing"]


def test_an_unexpected_error_is_answered_by_the_apps_handler_and_raised_to_the_server() -> None:
    served, short = _served()
    with pytest.raises(RuntimeError, match="a bug"):
        TestClient(served).get("/broken")
    answered = TestClient(served, raise_server_exceptions=False).get("/broken")
    assert answered.status_code == 500 and answered.json() == {"error": "internal_error"}
    assert answered.headers["vary"] == "Origin"
    assert short == ["/broken", "/broken"]


def test_cross_origin_and_unknown_requests_take_the_whole_app() -> None:
    served, short = _served()
    client = TestClient(served)
    cross = client.get("/where", headers={"Origin": "https://shop.example"})
    assert cross.json()["route"] == "/where"
    assert cross.headers["access-control-allow-origin"] == "https://shop.example"
    preflight = client.options(
        "/where",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200
    assert client.get("/nowhere").status_code == 404
    assert client.delete("/where").status_code == 405
    assert short == []

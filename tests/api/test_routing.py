"""The route table answers every request with the route Starlette's scan would have chosen."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from paybridge.api.routing import RouteTable, route_by_table


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

"""The backend as Granian serves it (`paybridge.paybridge:app`): API requests go straight to
the API (`api_first`), everything else through Reflex's layers; both keep their headers."""

from __future__ import annotations

from functools import cache

import reflex as rx
from fastapi.testclient import TestClient

from tests.api.conftest import Caller

ORIGIN = rx.config.get_config().cors_allowed_origins[0]


@cache
def served() -> TestClient:
    """Built once a process, as Granian does (building mounts the API into Reflex's app)."""
    from paybridge.paybridge import app

    return TestClient(app())  # no lifespan: the outbox relay and live listeners stay off


def test_an_api_call_is_answered_by_the_api_with_its_headers_once(alice: Caller) -> None:
    client = served()
    answer = client.get("/api/v1/profile", headers=alice.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["email"] == alice.user.email
    assert answer.headers.get_list("x-frame-options") == ["DENY"]
    assert len(answer.headers.get_list("content-security-policy")) == 1
    assert answer.headers.get_list("vary") == ["Origin"]
    cross = client.get("/api/v1/profile", headers={**alice.headers, "Origin": ORIGIN})
    assert cross.status_code == 200 and cross.headers.get_list("vary") == ["Origin"]
    assert cross.headers["access-control-allow-origin"] == ORIGIN
    assert client.get("/api/v1/profile").status_code == 401
    assert client.get("/api/v1/no-such-thing").status_code == 404


def test_a_preflight_from_an_allowed_origin_gets_one_answer_and_others_none() -> None:
    client = served()
    asked = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    allowed = client.options("/api/v1/transactions", headers={"Origin": ORIGIN, **asked})
    assert allowed.status_code == 200
    assert allowed.headers.get_list("access-control-allow-origin") == [ORIGIN]
    other = client.options(
        "/api/v1/transactions", headers={"Origin": "https://evil.example", **asked}
    )
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers


def test_the_rest_still_goes_through_reflex() -> None:
    client = served()
    ping = client.get("/ping")
    assert ping.status_code == 200 and ping.json() == "pong"
    assert client.get("/api/v1").status_code == 404  # not under the prefix: Reflex answers

"""A `direct_json_body` route answers every request exactly as FastAPI's own handler does."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Response
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient

from paybridge.api import errors
from paybridge.api.direct_body import direct_json_body
from paybridge.api.idempotency import IdempotentRoute, keys_handled_by_endpoint
from paybridge.api.routes.common import CurrentPrincipal, authenticated_router
from paybridge.api.schemas import TransactionCreate
from paybridge.errors import DomainError
from tests.api.conftest import Caller

PAYMENT = {"amount": 1050, "currency": "USD", "provider": "card", "customer_email": "a@b.co"}


def _echo() -> Callable[..., Any]:
    """A fresh endpoint (the markers are attributes of the function) that echoes its input."""

    @keys_handled_by_endpoint
    async def echo(body: TransactionCreate, principal: CurrentPrincipal) -> Response:
        return Response(
            json.dumps({"merchant": principal.merchant_id, "body": body.model_dump(mode="json")}),
            status_code=201,
            media_type="application/json",
        )

    return echo


def _twins() -> FastAPI:
    """The same endpoint twice: through the direct path and through FastAPI's handler."""
    router = authenticated_router("twins")
    router.post("/direct")(direct_json_body(_echo()))
    router.post("/fastapi")(_echo())
    app = FastAPI()
    app.add_exception_handler(DomainError, errors.domain_error_handler)
    app.add_exception_handler(RequestValidationError, errors.validation_error_handler)
    app.include_router(router)
    return app


@pytest.fixture
def twins(db: object) -> TestClient:
    return TestClient(_twins())


def _requests(alice: Caller) -> list[tuple[str, bytes, dict[str, str]]]:
    good = json.dumps(PAYMENT).encode()
    json_type = {"Content-Type": "application/json"}
    signed = {**alice.headers, **json_type}

    def typed(content_type: str) -> dict[str, str]:
        return {**alice.headers, "Content-Type": content_type}

    return [
        ("valid", good, signed),
        ("charset", good, typed("application/json; charset=UTF-8")),
        ("other charset", good, typed("application/json; charset=latin-1")),
        ("json suffix", good, typed("application/vnd.api+json")),
        ("text", good, typed("text/plain")),
        ("no type", good, alice.headers),
        ("empty", b"", signed),
        ("not json", b"{not json", signed),
        ("a list", b"[]", signed),
        ("unknown field", json.dumps({**PAYMENT, "tip": 1}).encode(), signed),
        ("missing field", json.dumps({"amount": 1050}).encode(), signed),
        ("float amount", json.dumps({**PAYMENT, "amount": 10.5}).encode(), signed),
        ("no credential", good, json_type),
        ("no credential, bad body", b"[]", json_type),
        ("forged key", good, {"Authorization": "Bearer sk_live_forged", **json_type}),
        ("forged key, bad body", b"{", {"Authorization": "Bearer sk_live_forged", **json_type}),
    ]  # fmt: skip


def test_every_request_gets_fastapis_answer(twins: TestClient, alice: Caller) -> None:
    for name, body, headers in _requests(alice):
        direct = twins.post("/direct", content=body, headers=headers)
        through_fastapi = twins.post("/fastapi", content=body, headers=headers)
        assert (direct.status_code, direct.json()) == (
            through_fastapi.status_code,
            through_fastapi.json(),
        ), name
        assert direct.headers.get("www-authenticate") == through_fastapi.headers.get(
            "www-authenticate"
        ), name
    valid = twins.post("/direct", content=json.dumps(PAYMENT), headers=_requests(alice)[0][2])
    assert valid.status_code == 201 and valid.json()["merchant"] == alice.user.id


def test_a_route_that_takes_more_is_refused_when_built() -> None:
    router = APIRouter(route_class=IdempotentRoute, dependencies=[Depends(lambda: None)])

    async def with_query(body: TransactionCreate, note: str) -> Response:
        return Response()

    with pytest.raises(TypeError, match="one JSON body and the principal"):
        router.post("/misfit")(direct_json_body(with_query))

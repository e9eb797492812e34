"""API fixtures: a TestClient on the real app as the backend serves it (`build_api()`, the
same FastAPI app Reflex mounts, behind `served_api`'s layers), merchants with credentials, and
rate limits / request logs kept per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from paybridge.api.app import build_api, served_api
from paybridge.api.ratelimit import reset_memory
from paybridge.api.request_log import api_logs
from paybridge.models import Provider, User
from paybridge.services.api_keys import api_key_create
from tests.conftest import MERCHANT_PASSWORD, TestDatabase, create_merchant


@pytest.fixture(scope="session")
def api_app() -> FastAPI:
    return build_api()


@pytest.fixture(autouse=True)
def api_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Generous rate limits unless a test sets its own, Redis keys no other run shares, and no
    request-log rows left buffered for the next test's database."""
    monkeypatch.setenv("PAYBRIDGE_API_RATE_LIMIT", "100000/1")
    monkeypatch.setenv("PAYBRIDGE_API_RATE_LIMIT_PREFIX", f"paybridge:test:{uuid.uuid4().hex}")
    reset_memory()
    api_logs.flush()
    yield
    api_logs.flush()
    reset_memory()


@pytest.fixture
def client(db: TestDatabase, api_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(served_api(api_app)) as test_client:
        yield test_client


@dataclass
class Caller:
    """A merchant and a bearer credential for it."""

    user: User
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def api_key_for(user: User) -> str:
    return api_key_create(merchant_id=user.id, name="tests")[1]


def login(client: TestClient, email: str, password: str = MERCHANT_PASSWORD) -> dict:
    response = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def alice(merchant: User) -> Caller:
    """Merchant A (the conftest's merchant) with an API key."""
    return Caller(merchant, api_key_for(merchant))


@pytest.fixture
def bob(providers: dict[str, Provider]) -> Caller:
    """Merchant B, with an API key."""
    user = create_merchant("bob@example.com")
    return Caller(user, api_key_for(user))


def error_of(response) -> dict:  # type: ignore[no-untyped-def]
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "param"}, body
    return body["error"]


def make_payment(client: TestClient, caller: Caller, **fields) -> dict:  # type: ignore[no-untyped-def]
    payload = {
        "amount": 1050,
        "currency": "USD",
        "provider": "card",
        "customer_email": "payer@example.com",
        "status": "success",
        **fields,
    }
    response = client.post("/api/v1/transactions", json=payload, headers=caller.headers)
    assert response.status_code == 201, response.text
    return response.json()

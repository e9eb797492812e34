"""The error shape for bad input, 413 for big bodies, and per-credential rate limits."""

from __future__ import annotations

import json

import pytest
import redis
from fastapi.testclient import TestClient

from paybridge.api.ratelimit import check_rate_limit
from paybridge.errors import DomainError
from tests.api.conftest import Caller, error_of

V1 = "/api/v1"


def test_body_over_one_megabyte_is_413(client: TestClient, alice: Caller) -> None:
    big = json.dumps({"url": "https://x.example.com/", "event_types": ["*"], "p": "x" * 1_100_000})
    response = client.post(
        f"{V1}/webhooks",
        content=big,
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "request_too_large"

    def chunks():  # no Content-Length: counted while reading
        for _ in range(20):
            yield b"x" * 100_000

    streamed = client.post(f"{V1}/transactions", content=chunks(), headers=alice.headers)
    assert streamed.status_code == 413


def test_malformed_bodies_get_the_error_shape(client: TestClient, alice: Caller) -> None:
    cases = [
        (b"{not json", "invalid_json"),
        (b"[]", "invalid_request"),
        (b'"text"', "invalid_request"),
        (b"", "parameter_missing"),
        (b"\xff\xfe", "invalid_json"),
    ]
    for raw, code in cases:
        response = client.post(
            f"{V1}/transactions",
            content=raw,
            headers={**alice.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 400, (raw, response.text)
        assert error_of(response)["code"] == code, raw


def test_unknown_routes_and_methods(client: TestClient, alice: Caller) -> None:
    missing = client.get(f"{V1}/nothing-here", headers=alice.headers)
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    wrong = client.put(f"{V1}/transactions", headers=alice.headers)
    assert wrong.status_code == 405 and error_of(wrong)["code"] == "method_not_allowed"


def test_openapi_and_docs(client: TestClient) -> None:
    spec = client.get(f"{V1}/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in (
        "/auth/token",
        "/auth/refresh",
        "/auth/logout",
        "/profile",
        "/transactions",
        "/transactions/{reference}",
        "/transactions/{reference}/refund",
        "/analytics",
        "/balance",
        "/settlements",
        "/settlements/withdraw",
        "/webhooks",
        "/webhooks/{webhook_id}",
        "/api-logs",
        "/events",
        "/api-keys",
    ):
        assert path in paths, path
    post = paths["/transactions"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])
    assert "/api/v1/openapi.json" in client.get(f"{V1}/docs").text


def test_rate_limit_in_memory(
    client: TestClient, alice: Caller, bob: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYBRIDGE_API_RATE_LIMIT", "3/60")
    statuses = [client.get(f"{V1}/profile", headers=alice.headers).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get(f"{V1}/profile", headers=alice.headers)
    assert error_of(limited)["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Each credential has its own budget.
    assert client.get(f"{V1}/profile", headers=bob.headers).status_code == 200


def test_rate_limit_in_redis(
    client: TestClient, alice: Caller, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paybridge.settings import get_settings

    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    monkeypatch.setenv("PAYBRIDGE_API_RATE_LIMIT", "2/60")
    statuses = [client.get(f"{V1}/profile", headers=alice.headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    # The count lives in Redis, so every worker and instance shares it.
    import os

    prefix = os.environ["PAYBRIDGE_API_RATE_LIMIT_PREFIX"]
    keys = redis.Redis.from_url(redis_url).keys(f"{prefix}:*")
    assert len(keys) == 1 and b":key:" in keys[0]  # counted per API key


def test_rate_limit_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYBRIDGE_API_RATE_LIMIT", "1/60")
    check_rate_limit("user:limit-test")
    with pytest.raises(DomainError) as raised:
        check_rate_limit("user:limit-test")
    assert raised.value.code == "rate_limited"
    monkeypatch.setenv("PAYBRIDGE_API_RATE_LIMIT", "0")
    for _ in range(5):
        check_rate_limit("user:limit-test")

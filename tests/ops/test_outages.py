"""PostgreSQL or Redis down: the API answers 503 `service_unavailable` within seconds, writes
nothing half-way, and recovers on its own when the server is back (no restart, no new engine).

"Down" is a TCP proxy in front of the real server that refuses and cuts connections, or a
closed port; the real servers keep running for the other tests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from paybridge.engine import get_engine
from paybridge.models import Event, Transaction
from paybridge.settings import get_settings
from tests.api.conftest import Caller
from tests.conftest import TestDatabase, use_database
from tests.ops.proxy import TcpProxy, closed_port

V1 = "/api/v1"
PAYMENT = {
    "amount": 1050,
    "currency": "USD",
    "provider": "card",
    "customer_email": "payer@example.com",
    "status": "success",
}


def pay(client: TestClient, caller: Caller, **headers: str):  # type: ignore[no-untyped-def]
    return client.post(f"{V1}/transactions", json=PAYMENT, headers={**caller.headers, **headers})


def assert_unavailable(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "service_unavailable"
    assert "unavailable" in error["message"]
    assert response.headers["retry-after"].isdigit()


def graphql(client: TestClient, caller: Caller, query: str):  # type: ignore[no-untyped-def]
    return client.post(f"{V1}/graphql", json={"query": query}, headers=caller.headers)


def assert_graphql_unavailable(response) -> None:  # type: ignore[no-untyped-def]
    """GraphQL's own shape (data + errors), with REST's status and Retry-After."""
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["errors"], body
    for error in body["errors"]:
        assert error["extensions"]["code"] == "service_unavailable", body
        assert error["extensions"]["status"] == 503
        assert "unavailable" in error["message"]
    assert response.headers["retry-after"].isdigit()


@pytest.fixture
def postgres(db: TestDatabase) -> TestDatabase:
    if db.is_sqlite:
        pytest.skip("an embedded SQLite file cannot go down")
    return db


@pytest.fixture
def database_proxy(postgres: TestDatabase, monkeypatch: pytest.MonkeyPatch) -> Iterator[TcpProxy]:
    """The application's database URL goes through a proxy the test can cut and restore."""
    url = make_url(postgres.url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", proxied)
    use_database(proxied)
    try:
        yield proxy
    finally:
        proxy.stop()
        monkeypatch.setenv("DATABASE_URL", postgres.url)
        use_database(postgres.url)


def test_database_on_a_closed_port_answers_503_quickly(
    client: TestClient, postgres: TestDatabase, alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = make_url(postgres.url).set(port=closed_port()).render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", down)
    use_database(down)
    try:
        started = time.monotonic()
        assert_unavailable(pay(client, alice))
        assert_unavailable(client.get(f"{V1}/transactions", headers=alice.headers))
        assert_unavailable(
            client.post(f"{V1}/auth/token", json={"email": "a@b.co", "password": "x" * 12})
        )
        assert_graphql_unavailable(graphql(client, alice, "{ me { email } }"))
        assert_graphql_unavailable(
            graphql(
                client, alice, 'mutation { withdraw(amount: 100, currency: "USD") { reference } }'
            )
        )
        assert time.monotonic() - started < 20
    finally:
        monkeypatch.setenv("DATABASE_URL", postgres.url)
        use_database(postgres.url)
    assert postgres.count(Transaction) == 0


def test_database_outage_then_recovery_without_restart(
    client: TestClient, alice: Caller, database_proxy: TcpProxy, postgres: TestDatabase
) -> None:
    engine = get_engine()
    first = pay(client, alice)
    assert first.status_code == 201, first.text
    assert client.get(f"{V1}/profile", headers=alice.headers).status_code == 200

    database_proxy.stop()  # PostgreSQL "restarts": pooled connections die, new ones are refused
    started = time.monotonic()
    # The profile read runs on the driver's connection (`DriverRead`), one used a moment ago
    # and so not pinged: its failure is still an outage, and the dead connection is dropped.
    assert_unavailable(client.get(f"{V1}/profile", headers=alice.headers))
    for n in range(5):
        assert_unavailable(pay(client, alice, **{"Idempotency-Key": f"outage-{n}"}))
    assert_unavailable(client.get(f"{V1}/transactions", headers=alice.headers))
    assert_graphql_unavailable(graphql(client, alice, "{ balance { available { amount } } }"))
    assert client.get(f"{V1}/health").status_code == 200
    ready = client.get(f"{V1}/ready")
    assert ready.status_code == 503 and ready.json()["checks"]["database"]["ok"] is False
    assert time.monotonic() - started < 30  # never hangs

    database_proxy.start()  # back on the same address
    again = pay(client, alice, **{"Idempotency-Key": "outage-0"})  # a client's retry succeeds
    assert again.status_code == 201, again.text
    assert client.get(f"{V1}/ready").status_code == 200
    assert get_engine() is engine  # recovered by itself: same engine, pool re-filled
    for _ in range(3):  # no dead connection went back to the pool
        assert client.get(f"{V1}/profile", headers=alice.headers).status_code == 200
    recovered = graphql(client, alice, "{ me { email } }")
    assert recovered.status_code == 200 and "errors" not in recovered.json(), recovered.text

    listed = client.get(f"{V1}/transactions", headers=alice.headers).json()["data"]
    assert {t["reference"] for t in listed} == {
        first.json()["reference"],
        again.json()["reference"],
    }
    # Nothing half-written by the rejected requests: two payments, each with its own event.
    assert postgres.count(Transaction) == 2
    assert postgres.count(Event) == 2


def test_redis_down_writes_still_accepted_and_not_ready(
    client: TestClient, db: TestDatabase, alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outbox is the truth and Redis only the fast path: while Redis is down, payments are
    still accepted (and their events kept for the worker and dashboards to catch up from), rate
    limits fail open, and readiness reports Redis down."""
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{closed_port()}/0")
    get_settings.cache_clear()
    started = time.monotonic()
    response = pay(client, alice)
    assert response.status_code == 201, response.text
    assert time.monotonic() - started < 10
    assert db.count(Transaction) == 1 and db.count(Event) >= 1
    ready = client.get(f"{V1}/ready")
    assert ready.status_code == 503 and ready.json()["checks"]["redis"]["ok"] is False


def test_redis_errors_reaching_the_api_answer_503(
    client: TestClient, db: TestDatabase, alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any route that needs Redis and cannot reach it answers 503, not 500."""
    import redis

    from paybridge.api import resources

    def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr(resources, "profile", broken)
    assert_unavailable(client.get(f"{V1}/profile", headers=alice.headers))
    # GraphQL: the credential was checked, then a field's resolver lost the dependency.
    response = graphql(client, alice, "{ me { email } }")
    assert_graphql_unavailable(response)
    assert response.json()["data"] is None

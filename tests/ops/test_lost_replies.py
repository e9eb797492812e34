"""An `Idempotency-Key` and a database connection that dies at COMMIT, on a real PostgreSQL.

The key's stored response is written in the same transaction as the write it answers for. So
when the connection dies after the server committed (the acknowledgement is lost and the
client gets 503), a retry with the same key replays the original response and writes nothing;
when it dies before the COMMIT reached the server (everything rolled back), the key is free at
once and the retry does the work. The connection is cut by a TCP proxy in front of the real
server (tests/ops/proxy.py): nothing of PayBridge is replaced.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from sqlmodel import select

from paybridge.events.bus import channel_for, reset_bus
from paybridge.models import Event, IdempotencyRecord, Provider, Settlement, Transaction
from paybridge.settings import get_settings
from tests.api.conftest import Caller
from tests.conftest import TestDatabase, seed_available
from tests.ops.proxy import TcpProxy
from tests.ops.test_outages import assert_unavailable, database_proxy, postgres  # noqa: F401

V1 = "/api/v1"
PAYMENT = {
    "amount": 1050,
    "currency": "USD",
    "provider": "card",
    "customer_email": "payer@example.com",
    "status": "success",
}
# The trap springs at the COMMIT of the connection that wrote the payment or the payout (the
# background request-log writer commits through the same proxy and must not spring it).
WROTE_PAYMENT = b"INSERT INTO transactions"
WROTE_PAYOUT = b"INSERT INTO settlements"


def post(client: TestClient, caller: Caller, path: str, body: dict, key: str):  # type: ignore[no-untyped-def]
    return client.post(V1 + path, json=body, headers={**caller.headers, "Idempotency-Key": key})


class Published:
    """What the application put on the Redis bus for one merchant (the live fast path)."""

    def __init__(self, url: str, merchant_id: int) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=5)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(channel_for(merchant_id))
        self._pubsub.get_message(timeout=1)  # the subscription confirmation

    def references(self, quiet: float = 0.5) -> list[str]:
        """References of the events received until the channel stays quiet for `quiet` s."""
        found, deadline = [], time.monotonic() + quiet
        while (left := deadline - time.monotonic()) > 0:
            message = self._pubsub.get_message(timeout=left)
            if message is not None:
                found.append(json.loads(message["data"])["payload"].get("reference"))
        return found

    def close(self) -> None:
        self._pubsub.close()
        self._client.close()


@pytest.fixture
def published(
    redis_url: str, alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Published]:
    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    reset_bus()
    bus = Published(redis_url, alice.user.id)
    yield bus
    bus.close()


def stored(db: TestDatabase) -> list[IdempotencyRecord]:
    with db.session() as session:
        return list(session.exec(select(IdempotencyRecord)).all())


@pytest.mark.parametrize("route", ["payment", "withdrawal"])
def test_reply_lost_after_commit_then_retry_replays_it(
    route: str,
    client: TestClient,
    alice: Caller,
    postgres: TestDatabase,  # noqa: F811
    database_proxy: TcpProxy,  # noqa: F811
    providers: dict[str, Provider],
    published: Published,
) -> None:
    if route == "payment":
        path, body, model, marker = "/transactions", PAYMENT, Transaction, WROTE_PAYMENT
    else:
        seed_available(alice.user.id, providers["card"], 50_000)
        path, body, model = (
            "/settlements/withdraw",
            {"amount": 20_000, "currency": "USD"},
            Settlement,
        )
        marker = WROTE_PAYOUT
    before = postgres.count(model), postgres.count(Event)

    database_proxy.cut_at_commit(after=marker, deliver=True)
    lost = post(client, alice, path, body, "lost-ack")
    assert database_proxy.trap_sprung.is_set()
    assert_unavailable(lost)  # the client cannot know the write happened
    # ... but it did, together with the key's response.
    assert (postgres.count(model), postgres.count(Event)) == (before[0] + 1, before[1] + 1)
    [record] = stored(postgres)
    assert record.response_status == 201 and record.claim_token is None
    original = json.loads(record.response_body or "")

    retry = post(client, alice, path, body, "lost-ack")
    assert retry.status_code == 201, retry.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == original
    assert (postgres.count(model), postgres.count(Event)) == (before[0] + 1, before[1] + 1)
    with postgres.session() as session:
        assert (
            len(session.exec(select(model).where(model.reference == original["reference"])).all())
            == 1
        )

    other = post(client, alice, path, body, "next-key")  # the connection pool recovered too
    assert other.status_code == 201 and other.json()["reference"] != original["reference"]
    # The bus heard of the new write once it was committed; of the lost one never (the outbox
    # row is the truth: the worker and the dashboards' catch-up read it from there).
    heard = published.references()
    assert other.json()["reference"] in heard and original["reference"] not in heard


def test_commit_never_reached_the_server_then_the_key_is_free(
    client: TestClient,
    alice: Caller,
    postgres: TestDatabase,  # noqa: F811
    database_proxy: TcpProxy,  # noqa: F811
    published: Published,
) -> None:
    payment = {**PAYMENT, "reference": "order-rolled-back"}
    database_proxy.cut_at_commit(after=WROTE_PAYMENT, deliver=False)
    failed = post(client, alice, "/transactions", payment, "rolled-back")
    assert database_proxy.trap_sprung.is_set()
    assert_unavailable(failed)
    # Nothing of it stayed: no payment, no event, no claim holding the key.
    assert postgres.count(Transaction) == postgres.count(Event) == 0
    assert stored(postgres) == []
    assert "order-rolled-back" not in published.references()  # nothing announced either

    retry = post(client, alice, "/transactions", payment, "rolled-back")
    assert retry.status_code == 201, retry.text
    assert "Idempotent-Replayed" not in retry.headers
    assert postgres.count(Transaction) == postgres.count(Event) == 1
    [record] = stored(postgres)
    assert json.loads(record.response_body or "") == retry.json()

    again = post(client, alice, "/transactions", payment, "rolled-back")
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == retry.json()
    assert postgres.count(Transaction) == 1
    assert published.references().count("order-rolled-back") == 1  # the retry, once

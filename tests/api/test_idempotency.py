"""Idempotency-Key: replay, conflicting reuse, concurrent requests executing once, expiry."""

from __future__ import annotations

import threading
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import select

from paybridge.db import write_session
from paybridge.models import IdempotencyRecord, Provider, Settlement, Transaction
from paybridge.services.idempotency import idempotency_purge_expired
from tests.api.conftest import Caller, error_of
from tests.conftest import TestDatabase, seed_available

V1 = "/api/v1"
PAYMENT = {"amount": 2500, "currency": "USD", "provider": "card", "customer_email": "a@b.co"}


def post(client: TestClient, caller: Caller, key: str, body: dict, path: str = "/transactions"):  # type: ignore[no-untyped-def]
    headers = {**caller.headers, "Idempotency-Key": key}
    return client.post(V1 + path, json=body, headers=headers)


def test_same_key_same_body_replays(client: TestClient, alice: Caller, db: TestDatabase) -> None:
    first = post(client, alice, "order-7", PAYMENT)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    # Same body, other key order and spacing: the same request.
    reordered = dict(reversed(list(PAYMENT.items())))
    second = post(client, alice, "order-7", reordered)
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert db.count(Transaction) == 1


def test_same_key_other_body_is_409(client: TestClient, alice: Caller, db: TestDatabase) -> None:
    assert post(client, alice, "k1", PAYMENT).status_code == 201
    reused = post(client, alice, "k1", {**PAYMENT, "amount": 2600})
    assert reused.status_code == 409
    assert error_of(reused) == {
        "code": "idempotency_key_reused",
        "message": "This Idempotency-Key was already used with a different request.",
        "param": "Idempotency-Key",
    }
    other_path = post(client, alice, "k1", PAYMENT, path="/webhooks")
    assert other_path.status_code == 409
    assert db.count(Transaction) == 1


def test_keys_are_per_merchant(client: TestClient, alice: Caller, bob: Caller) -> None:
    a = post(client, alice, "shared-key", PAYMENT)
    b = post(client, bob, "shared-key", PAYMENT)
    assert a.status_code == b.status_code == 201
    assert a.json()["reference"] != b.json()["reference"]
    assert "Idempotent-Replayed" not in b.headers


def test_errors_replay_but_invalid_input_does_not_burn_the_key(
    client: TestClient, alice: Caller, db: TestDatabase
) -> None:
    refused = post(client, alice, "k2", {**PAYMENT, "currency": "XYZ"})
    assert refused.status_code == 400
    replay = post(client, alice, "k2", {**PAYMENT, "currency": "XYZ"})
    assert replay.status_code == 400 and replay.headers["Idempotent-Replayed"] == "true"

    invalid = post(client, alice, "k3", {**PAYMENT, "amount": "lots"})  # schema validation
    assert invalid.status_code == 400
    fixed = post(client, alice, "k3", PAYMENT)
    assert fixed.status_code == 201 and "Idempotent-Replayed" not in fixed.headers


def test_a_body_nested_past_the_parser_is_refused_and_keeps_the_key(
    client: TestClient, alice: Caller, db: TestDatabase
) -> None:
    """The key's fingerprint parses the body too: JSON deeper than the parser goes is the same
    400 as without a key (it was a 500), nothing is written, and the key stays free."""
    nested = "[" * 50_000 + "]" * 50_000
    for key in ("deep", None):
        headers = {**alice.headers, "Content-Type": "application/json"}
        if key:
            headers["Idempotency-Key"] = key
        refused = client.post(V1 + "/transactions", content=nested, headers=headers)
        assert refused.status_code == 400
        assert error_of(refused)["code"] == "invalid_request"
    with write_session() as session:
        assert session.exec(select(Transaction)).first() is None
        assert session.exec(select(IdempotencyRecord)).first() is None
    assert post(client, alice, "deep", PAYMENT).status_code == 201


def test_key_length_is_checked(client: TestClient, alice: Caller) -> None:
    assert post(client, alice, "x" * 255, PAYMENT).status_code == 201
    too_long = post(client, alice, "y" * 256, PAYMENT)
    assert too_long.status_code == 400
    assert error_of(too_long)["code"] == "invalid_idempotency_key"


def test_concurrent_requests_with_one_key_execute_once(
    client: TestClient, alice: Caller, db: TestDatabase, providers: dict[str, Provider]
) -> None:
    seed_available(alice.user.id, providers["card"], 100_000)
    body = {"amount": 30_000, "currency": "USD"}
    barrier = threading.Barrier(6)
    responses = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        response = post(client, alice, "payout-1", body, path="/settlements/withdraw")
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = sorted(r.status_code for r in responses)
    assert len(statuses) == 6
    assert set(statuses) <= {201, 409}, [r.text for r in responses]
    created = [r.json() for r in responses if r.status_code == 201]
    assert created and all(c["reference"] == created[0]["reference"] for c in created)
    for r in responses:
        if r.status_code == 409:
            assert error_of(r)["code"] == "idempotency_key_in_use"
    with db.session() as session:
        assert len(session.exec(select(Settlement)).all()) == 1
    # Once it has finished, every retry replays it.
    again = post(client, alice, "payout-1", body, path="/settlements/withdraw")
    assert again.status_code == 201 and again.json()["reference"] == created[0]["reference"]


def test_expired_keys_are_purged_and_reusable(
    client: TestClient, alice: Caller, db: TestDatabase
) -> None:
    first = post(client, alice, "old-key", PAYMENT)
    with write_session() as session:  # BEGIN IMMEDIATE: the log writer may be writing too
        record = session.exec(select(IdempotencyRecord)).one()
        assert record.expires_at - record.created_at == timedelta(hours=24)
        record.expires_at = record.created_at - timedelta(seconds=1)
        session.add(record)
        session.commit()
    reused = post(client, alice, "old-key", {**PAYMENT, "amount": 999})
    assert reused.status_code == 201 and reused.json()["reference"] != first.json()["reference"]
    with write_session() as session:
        record = session.exec(select(IdempotencyRecord)).one()
        record.expires_at = record.created_at - timedelta(seconds=1)
        session.add(record)
        session.commit()
    assert idempotency_purge_expired() == 1
    assert db.count(IdempotencyRecord) == 0

"""Withdrawals and refunds through REST and GraphQL take the merchant's turn
(`paybridge.money_gate`): with the turn held and its queue full, a merchant's money write is
refused at once with 429 `too_many_concurrent_writes` and Retry-After, nothing is written and its
Idempotency-Key stays unclaimed; another merchant's is not held up at all."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager

from fastapi.testclient import TestClient
from sqlmodel import select

from paybridge.models import Provider, Settlement
from paybridge.money_gate import MAX_WAITING, money_write_turn, waiting_merchants
from tests.api.conftest import Caller, make_payment
from tests.api.test_graphql import gql
from tests.conftest import TestDatabase, seed_available

V1 = "/api/v1"
WITHDRAW = {"amount": 1_000, "currency": "USD"}


async def hold(merchant_id: int, release: asyncio.Event) -> None:
    async with money_write_turn(merchant_id):
        await release.wait()


@contextmanager
def turns_taken(client: TestClient, merchant_id: int) -> Iterator[None]:
    """The merchant's turn held and its queue full, on the app's own event loop."""
    release: asyncio.Event = client.portal.call(asyncio.Event)
    holders: list[Future[None]] = [
        client.portal.start_task_soon(hold, merchant_id, release) for _ in range(MAX_WAITING + 1)
    ]
    client.portal.call(asyncio.sleep, 0.05)
    try:
        yield
    finally:
        client.portal.call(release.set)
        for holder in holders:
            holder.result(timeout=10)


def refused(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "too_many_concurrent_writes"
    assert response.headers["Retry-After"] == "1"


def test_a_merchant_with_too_many_money_writes_waiting_is_refused_at_once_alone(
    client: TestClient, db: TestDatabase, alice: Caller, bob: Caller, providers: dict[str, Provider]
) -> None:
    for caller in (alice, bob):
        seed_available(caller.user.id, providers["card"], 50_000)
    payment = make_payment(client, alice, amount=5_000)
    keyed = {**alice.headers, "Idempotency-Key": "during-the-storm"}
    with turns_taken(client, alice.user.id):
        refused(client.post(f"{V1}/settlements/withdraw", json=WITHDRAW, headers=keyed))
        refused(client.post(f"{V1}/settlements/withdraw", json=WITHDRAW, headers=alice.headers))
        refused(
            client.post(
                f"{V1}/transactions/{payment['reference']}/refund",
                json={"amount": 100},
                headers=alice.headers,
            )
        )
        result = gql(
            client, alice, 'mutation { withdraw(amount: 1000, currency: "USD") { reference } }'
        )
        assert result["errors"][0]["extensions"] == {
            "code": "too_many_concurrent_writes",
            "param": None,
            "status": 429,
            "retry_after": 1,
        }
        other = client.post(f"{V1}/settlements/withdraw", json=WITHDRAW, headers=bob.headers)
        assert other.status_code == 201, other.text
        with db.session() as session:
            assert session.exec(select(Settlement.merchant_id)).all() == [bob.user.id]
    assert waiting_merchants() == 0
    again = client.post(f"{V1}/settlements/withdraw", json=WITHDRAW, headers=keyed)
    assert again.status_code == 201, again.text
    assert "Idempotent-Replayed" not in again.headers  # the refusal claimed nothing

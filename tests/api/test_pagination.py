"""Cursor pagination: both directions, stable while new payments arrive, and its refusals."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from paybridge.db import utcnow
from paybridge.services.transactions import transaction_create
from tests.api.conftest import Caller, error_of, make_payment

V1 = "/api/v1"


def seed(caller: Caller, count: int) -> list[str]:
    """`count` payments a second apart; returns references newest first."""
    start = utcnow() - timedelta(hours=1)
    refs = []
    for i in range(count):
        tx = transaction_create(
            merchant_id=caller.user.id,
            amount=100 + i,
            currency="USD",
            provider="card",
            customer_email="p@example.com",
            status="success",
            created_at=start + timedelta(seconds=i),
        )
        refs.append(tx.reference)
    return refs[::-1]


def page(client: TestClient, caller: Caller, query: str) -> dict:
    response = client.get(f"{V1}/transactions?{query}", headers=caller.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list"
    return body


def refs_of(body: dict) -> list[str]:
    return [tx["reference"] for tx in body["data"]]


def test_forward_and_backward(client: TestClient, alice: Caller) -> None:
    refs = seed(alice, 25)
    first = page(client, alice, "")
    assert refs_of(first) == refs[:10] and first["has_more"] is True

    collected, cursor = [], None
    while True:
        body = page(client, alice, "limit=7" + (f"&starting_after={cursor}" if cursor else ""))
        collected += refs_of(body)
        if not body["has_more"]:
            break
        cursor = collected[-1]
    assert collected == refs

    back = page(client, alice, f"limit=5&ending_before={refs[12]}")
    assert refs_of(back) == refs[7:12] and back["has_more"] is True
    top = page(client, alice, f"limit=5&ending_before={refs[5]}")
    assert refs_of(top) == refs[:5] and top["has_more"] is False
    tail = page(client, alice, f"limit=100&starting_after={refs[20]}")
    assert refs_of(tail) == refs[21:] and tail["has_more"] is False


def test_pages_stay_consistent_while_payments_arrive(client: TestClient, alice: Caller) -> None:
    refs = seed(alice, 12)
    first = page(client, alice, "limit=5")
    for _ in range(3):  # new payments land on top while the client pages down
        make_payment(client, alice)
    second = page(client, alice, f"limit=5&starting_after={refs_of(first)[-1]}")
    third = page(client, alice, f"limit=5&starting_after={refs_of(second)[-1]}")
    assert refs_of(first) + refs_of(second) + refs_of(third) == refs
    assert third["has_more"] is False
    newer = page(client, alice, f"ending_before={refs[0]}")
    assert len(newer["data"]) == 3 and newer["has_more"] is False


def test_refusals(client: TestClient, alice: Caller) -> None:
    refs = seed(alice, 2)
    both = client.get(
        f"{V1}/transactions?starting_after={refs[0]}&ending_before={refs[1]}",
        headers=alice.headers,
    )
    assert both.status_code == 400 and error_of(both)["param"] == "ending_before"
    for limit in ("0", "101", "-1", "ten"):
        response = client.get(f"{V1}/transactions?limit={limit}", headers=alice.headers)
        assert response.status_code == 400, limit
        assert error_of(response)["param"] == "limit"
    unknown = client.get(f"{V1}/transactions?starting_after=txn_nope", headers=alice.headers)
    assert unknown.status_code == 400 and error_of(unknown)["code"] == "invalid_cursor"
    for path in ("/events", "/webhooks", "/api-logs", "/settlements", "/api-keys", "/transactions"):
        for cursor in ("abc", "%E2%80%AE", "a b", "a%25b"):
            response = client.get(f"{V1}{path}?ending_before={cursor}", headers=alice.headers)
            assert response.status_code == 400, (path, cursor)
            assert error_of(response)["code"] == "invalid_cursor"


def test_query_parameters_with_control_characters_are_refused_everywhere(
    client: TestClient, alice: Caller
) -> None:
    """Filters went to PostgreSQL as they came: a NUL byte answered 500 there."""
    for query in (
        "/transactions?customer_email=%00",
        "/transactions?provider=card%00",
        "/transactions?currency=U%00D",
        "/settlements?currency=%00",
        "/events?type=%00",
        "/api-logs?path=%0A",
        "/transactions?limit=10&unknown=%7F",
        "/settlements?ending_before=%00",
        "/transactions?starting_after=a%00b",
    ):
        response = client.get(f"{V1}{query}", headers=alice.headers)
        assert response.status_code == 400, (query, response.text)
        assert error_of(response)["code"] == "invalid_request", query
    assert (
        client.get(f"{V1}/transactions?customer_email=a%40b.co", headers=alice.headers).status_code
        == 200
    )


def test_event_ids_are_cursors(client: TestClient, alice: Caller) -> None:
    for _ in range(4):
        make_payment(client, alice)
    events = client.get(f"{V1}/events?limit=100", headers=alice.headers).json()["data"]
    ids = [e["id"] for e in events]
    assert ids == sorted(ids, reverse=True) and len(ids) == 4
    older = client.get(f"{V1}/events?limit=2&starting_after={ids[1]}", headers=alice.headers)
    assert [e["id"] for e in older.json()["data"]] == ids[2:]
    newer = client.get(f"{V1}/events?ending_before={ids[2]}", headers=alice.headers)
    assert [e["id"] for e in newer.json()["data"]] == ids[:2]

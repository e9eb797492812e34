"""Tenant isolation: merchant B's credentials against each of merchant A's resources, over REST
and GraphQL — 404 or empty, never A's data."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from paybridge.api.request_log import api_logs
from tests.api.conftest import Caller, make_payment

V1 = "/api/v1"


@pytest.fixture
def alice_data(client: TestClient, alice: Caller) -> dict:
    tx = make_payment(client, alice, customer_email="alice.customer@example.com")
    hook = client.post(
        f"{V1}/webhooks",
        json={"url": "https://alice.example.com/hook", "event_types": ["*"]},
        headers=alice.headers,
    ).json()
    api_logs.flush()
    return {"reference": tx["reference"], "webhook_id": hook["id"]}


def test_rest_matrix(client: TestClient, alice: Caller, bob: Caller, alice_data: dict) -> None:
    ref, hook_id = alice_data["reference"], alice_data["webhook_id"]
    not_found = [
        ("GET", f"/transactions/{ref}", None),
        ("POST", f"/transactions/{ref}/refund", None),
        ("GET", f"/webhooks/{hook_id}", None),
        ("PATCH", f"/webhooks/{hook_id}", {"is_active": False}),
        ("DELETE", f"/webhooks/{hook_id}", None),
    ]
    for method, path, body in not_found:
        response = client.request(method, V1 + path, json=body, headers=bob.headers)
        assert response.status_code == 404, (method, path, response.text)
        assert "alice" not in response.text

    for path in ("/transactions", "/webhooks", "/events", "/settlements"):
        response = client.get(V1 + path, headers=bob.headers)
        assert response.status_code == 200
        assert response.json()["data"] == [], path
    # B's request log holds B's own requests only.
    api_logs.flush()
    alice_logs = client.get(f"{V1}/api-logs?limit=100", headers=alice.headers).json()["data"]
    bob_logs = client.get(f"{V1}/api-logs?limit=100", headers=bob.headers).json()["data"]
    assert alice_logs and bob_logs
    assert not {log["id"] for log in alice_logs} & {log["id"] for log in bob_logs}
    assert client.get(f"{V1}/balance", headers=bob.headers).json() == {
        "object": "balance",
        "available": [],
        "pending": [],
    }
    analytics = client.get(f"{V1}/analytics", headers=bob.headers).json()
    assert analytics["current"]["total_transactions"] == 0 and analytics["currencies"] == []
    assert client.get(f"{V1}/profile", headers=bob.headers).json()["email"] == "bob@example.com"

    # A's object ids are not cursors B can page from.
    for path, cursor in (("/transactions", ref), ("/webhooks", str(hook_id))):
        response = client.get(f"{V1}{path}?starting_after={cursor}", headers=bob.headers)
        assert response.status_code == 400, path

    # A's data is untouched by B's attempts.
    tx = client.get(f"{V1}/transactions/{ref}", headers=alice.headers).json()
    assert tx["status"] == "success"
    hook = client.get(f"{V1}/webhooks/{hook_id}", headers=alice.headers).json()
    assert hook["is_active"] is True


def test_graphql_matrix(client: TestClient, alice: Caller, bob: Caller, alice_data: dict) -> None:
    ref, hook_id = alice_data["reference"], alice_data["webhook_id"]

    def gql(query: str) -> dict:
        response = client.post(f"{V1}/graphql", json={"query": query}, headers=bob.headers)
        assert response.status_code == 200, response.text
        assert "alice" not in response.text
        return response.json()

    reads = gql(
        f"""{{
          me {{ email }}
          transaction(reference: "{ref}") {{ reference }}
          transactions {{ edges {{ node {{ reference }} }} }}
          webhooks {{ data {{ id }} }}
          settlements {{ data {{ reference }} }}
          apiLogs {{ data {{ id }} }}
          balance {{ available {{ amount }} }}
          analytics {{ current {{ totalTransactions }} }}
        }}"""
    )
    data = reads["data"]
    assert data["me"]["email"] == "bob@example.com"
    assert data["transaction"] is None
    assert data["transactions"]["edges"] == []
    assert data["webhooks"]["data"] == [] and data["settlements"]["data"] == []
    assert data["apiLogs"]["data"] == [] and data["balance"]["available"] == []
    assert data["analytics"]["current"]["totalTransactions"] == 0

    for mutation in (
        f'refundTransaction(reference: "{ref}") {{ status }}',
        f"updateWebhook(id: {hook_id}, isActive: false) {{ id }}",
        f"deleteWebhook(id: {hook_id}) {{ id }}",
    ):
        result = gql(f"mutation {{ {mutation} }}")
        assert result["data"] is None
        assert result["errors"][0]["extensions"]["code"] == "not_found", mutation

    assert client.get(f"{V1}/webhooks/{hook_id}", headers=alice.headers).status_code == 200
    tx = client.get(f"{V1}/transactions/{ref}", headers=alice.headers).json()
    assert tx["status"] == "success"

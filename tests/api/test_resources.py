"""Every REST resource, read and written through the API against a real database."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from paybridge.api.request_log import api_logs
from paybridge.db import utcnow
from paybridge.models import Provider, Webhook
from paybridge.services.settlements import settlement_update_status
from tests.api.conftest import Caller, error_of, make_payment
from tests.conftest import TestDatabase, seed_available

V1 = "/api/v1"


def test_profile(client: TestClient, alice: Caller) -> None:
    body = client.get(f"{V1}/profile", headers=alice.headers).json()
    assert body["email"] == alice.user.email
    assert body["id"] == alice.user.id
    assert body["company_name"] == "Test Store Ltd" and body["initials"] == "TM"
    assert body["created_at"] == alice.user.created_at.isoformat()  # UTC, as the model holds it
    assert body["created_at"].endswith("+00:00")
    assert "password_hash" not in body


def test_ingest_read_and_refund_a_payment(client: TestClient, alice: Caller) -> None:
    created = make_payment(
        client, alice, amount=10_000, reference="order-1001", customer_email="Ada@Example.com"
    )
    assert created["reference"] == "order-1001"
    assert created["amount"] == 10_000 and created["currency"] == "USD"
    assert created["provider"] == "card" and created["provider_name"] == "Card"
    assert created["fee"] == 290 + 30 and created["net_amount"] == 10_000 - 320
    assert created["customer_email"] == "ada@example.com"
    assert created["status"] == "success"

    read = client.get(f"{V1}/transactions/order-1001", headers=alice.headers)
    assert read.status_code == 200 and read.json() == created

    part = client.post(
        f"{V1}/transactions/order-1001/refund", json={"amount": 2_500}, headers=alice.headers
    )
    assert part.status_code == 200, part.text
    assert part.json()["status"] == "success" and part.json()["refunded_amount"] == 2_500
    too_much = client.post(
        f"{V1}/transactions/order-1001/refund", json={"amount": 7_501}, headers=alice.headers
    )
    assert too_much.status_code == 422
    assert error_of(too_much)["code"] == "refund_exceeds_remaining"
    refunded = client.post(f"{V1}/transactions/order-1001/refund", headers=alice.headers)
    assert refunded.status_code == 200 and refunded.json()["status"] == "refunded"
    assert refunded.json()["refunded_amount"] == 10_000
    again = client.post(f"{V1}/transactions/order-1001/refund", headers=alice.headers)
    assert again.status_code == 422
    assert error_of(again)["code"] == "not_refundable"

    pending = make_payment(client, alice, status="pending")
    assert pending["status"] == "pending"
    assert (
        client.post(
            f"{V1}/transactions/{pending['reference']}/refund", headers=alice.headers
        ).status_code
        == 422
    )

    duplicate = client.post(
        f"{V1}/transactions",
        json={
            "amount": 100,
            "currency": "USD",
            "provider": "card",
            "customer_email": "x@example.com",
            "reference": "order-1001",
        },
        headers=alice.headers,
    )
    assert duplicate.status_code == 409 and error_of(duplicate)["code"] == "duplicate_reference"


def test_ingest_refuses_bad_payments(client: TestClient, alice: Caller) -> None:
    base = {"amount": 100, "currency": "USD", "provider": "card", "customer_email": "a@b.co"}
    cases = [
        ({"amount": 0}, "invalid_amount", "amount"),
        ({"amount": -5}, "invalid_amount", "amount"),
        ({"amount": 10**16}, "invalid_amount", "amount"),
        ({"amount": 10.5}, "invalid_request", "amount"),
        ({"amount": "100"}, "invalid_request", "amount"),
        ({"currency": "XYZ"}, "invalid_currency", "currency"),
        ({"provider": "nope"}, "invalid_provider", "provider"),
        ({"customer_email": "not-an-email"}, "invalid_email", "customer_email"),
        ({"reference": "bad reference!"}, "invalid_reference", "reference"),
        ({"status": "refunded"}, "invalid_request", "status"),
        ({"colour": "blue"}, "parameter_unknown", "colour"),
    ]
    for change, code, param in cases:
        response = client.post(f"{V1}/transactions", json={**base, **change}, headers=alice.headers)
        assert response.status_code == 400, (change, response.text)
        error = error_of(response)
        assert (error["code"], error["param"]) == (code, param), change
    missing = client.post(f"{V1}/transactions", json={"amount": 100}, headers=alice.headers)
    assert missing.status_code == 400 and error_of(missing)["code"] == "parameter_missing"
    assert client.get(f"{V1}/transactions", headers=alice.headers).json()["data"] == []


def test_list_filters(client: TestClient, alice: Caller) -> None:
    a = make_payment(client, alice, provider="card", customer_email="one@example.com")
    b = make_payment(client, alice, provider="stripe", currency="EUR", status="failed")
    c = make_payment(client, alice, provider="card", status="pending")

    def refs(query: str) -> list[str]:
        response = client.get(f"{V1}/transactions?{query}", headers=alice.headers)
        assert response.status_code == 200, response.text
        return [tx["reference"] for tx in response.json()["data"]]

    assert refs("") == [c["reference"], b["reference"], a["reference"]]
    assert refs("status=failed") == [b["reference"]]
    assert refs("provider=card") == [c["reference"], a["reference"]]
    assert refs("currency=eur") == [b["reference"]]
    assert refs("customer_email=ONE@example.com") == [a["reference"]]
    soon = (utcnow() + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    past = (utcnow() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert refs(f"created_gte={soon}") == []
    assert len(refs(f"created_gte={past}&created_lt={soon}")) == 3
    assert refs("status=success&provider=stripe") == []
    bad = client.get(f"{V1}/transactions?status=bogus", headers=alice.headers)
    assert bad.status_code == 400 and error_of(bad)["param"] == "status"
    bad_currency = client.get(f"{V1}/transactions?currency=ZZZ", headers=alice.headers)
    assert bad_currency.status_code == 400


def test_unknown_reference_is_404_and_a_malformed_one_400(
    client: TestClient, alice: Caller
) -> None:
    response = client.get(f"{V1}/transactions/txn_missing", headers=alice.headers)
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    refund = client.post(f"{V1}/transactions/txn_missing/refund", headers=alice.headers)
    assert refund.status_code == 404
    for reference in ("x" * 70, "bad%20ref", "semi;colon"):
        response = client.get(f"{V1}/transactions/{reference}", headers=alice.headers)
        assert response.status_code == 400, reference
        assert error_of(response)["param"] == "reference"
        refund = client.post(f"{V1}/transactions/{reference}/refund", headers=alice.headers)
        assert refund.status_code == 400


def test_analytics_match_the_dashboard_numbers(client: TestClient, alice: Caller) -> None:
    make_payment(client, alice, amount=10_000)
    make_payment(client, alice, amount=5_000)
    make_payment(client, alice, amount=2_000, status="failed")
    make_payment(client, alice, amount=700, currency="EUR")
    response = client.get(f"{V1}/analytics", headers=alice.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["currency"] == "USD"
    assert body["current"]["total_transactions"] == 3
    assert body["current"]["total_volume"] == 15_000
    assert body["current"]["success_rate_bp"] == 6667
    assert body["current"]["average_transaction"] == 7_500
    assert len(body["daily"]) == 30 and body["daily"][-1]["volume"] == 15_000
    assert body["previous"]["total_transactions"] == 0
    assert body["change"]["total_volume_bp"] is None
    assert {s["status"] for s in body["statuses"]} == {"pending", "success", "failed", "refunded"}
    assert body["providers"][0]["code"] == "card"
    assert set(body["currencies"]) == {"USD", "EUR"}

    today = body["to_date"]
    eur = client.get(
        f"{V1}/analytics?currency=eur&from={today}&to={today}", headers=alice.headers
    ).json()
    assert eur["currency"] == "EUR" and eur["current"]["total_volume"] == 700
    assert len(eur["daily"]) == 1

    for query, param in (
        ("from=2024-02-10&to=2024-02-01", "from"),
        ("from=2020-01-01&to=2024-01-01", "from"),
        ("from=1900-01-01&to=1900-01-02", "from"),
        ("from=not-a-date", "from"),
        ("to=0001-01-01", "to"),  # the default start would be before the first date there is
        ("from=0001-01-01", "from"),
        ("to=9999-12-31", "to"),
        ("currency=ABC", "currency"),
    ):
        bad = client.get(f"{V1}/analytics?{query}", headers=alice.headers)
        assert bad.status_code == 400, (query, bad.text)
        assert error_of(bad)["param"] == param


def test_balance_withdraw_and_settlements(
    client: TestClient, alice: Caller, providers: dict[str, Provider]
) -> None:
    seed_available(alice.user.id, providers["card"], 50_000)
    make_payment(client, alice, amount=10_000)  # still held
    balance = client.get(f"{V1}/balance", headers=alice.headers).json()
    assert balance == {
        "object": "balance",
        "available": [{"amount": 50_000, "currency": "USD"}],
        "pending": [{"amount": 10_000 - 320, "currency": "USD"}],
    }

    paid = client.post(
        f"{V1}/settlements/withdraw", json={"amount": 20_000, "currency": "USD"},
        headers=alice.headers,
    )  # fmt: skip
    assert paid.status_code == 201, paid.text
    settlement = paid.json()
    assert settlement["status"] == "pending" and settlement["amount"] == 20_000
    assert settlement["object"] == "payout" and settlement["id"] == settlement["reference"]
    assert settlement["bank_account"].endswith("6789")

    too_much = client.post(
        f"{V1}/settlements/withdraw", json={"amount": 40_000, "currency": "USD"},
        headers=alice.headers,
    )  # fmt: skip
    assert too_much.status_code == 422
    assert error_of(too_much)["code"] == "insufficient_funds"

    settlement_update_status(
        merchant_id=alice.user.id, reference=settlement["reference"], status="processing"
    )
    listed = client.get(f"{V1}/settlements", headers=alice.headers).json()
    assert [s["reference"] for s in listed["data"]] == [settlement["reference"]]
    assert listed["data"][0]["status"] == "processing" and listed["has_more"] is False
    assert client.get(f"{V1}/settlements?status=failed", headers=alice.headers).json()["data"] == []
    after = client.get(f"{V1}/balance", headers=alice.headers).json()
    assert after["available"] == [{"amount": 30_000, "currency": "USD"}]


def test_webhook_crud(client: TestClient, alice: Caller, db: TestDatabase) -> None:
    created = client.post(
        f"{V1}/webhooks",
        json={"url": "https://shop.example.com/hooks", "event_types": ["transaction.created"]},
        headers=alice.headers,
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["secret"].startswith("whsec_") and hook["is_active"] is True
    with db.session() as session:
        assert session.get(Webhook, hook["id"]).secret == hook["secret"]

    read = client.get(f"{V1}/webhooks/{hook['id']}", headers=alice.headers).json()
    assert "secret" not in read and read["url"] == "https://shop.example.com/hooks"
    listed = client.get(f"{V1}/webhooks", headers=alice.headers).json()
    assert [w["id"] for w in listed["data"]] == [hook["id"]] and "secret" not in listed["data"][0]

    patched = client.patch(
        f"{V1}/webhooks/{hook['id']}",
        json={"event_types": ["*"], "is_active": False},
        headers=alice.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["event_types"] == ["*"] and patched.json()["is_active"] is False
    assert patched.json()["url"] == "https://shop.example.com/hooks"

    for body, code in (
        ({"url": "ftp://example.com"}, "invalid_url"),
        ({"url": "https://user:pw@example.com/"}, "invalid_url"),
        ({"event_types": []}, "invalid_event_types"),
        ({"event_types": ["payment.teleported"]}, "invalid_event_types"),
        ({"is_active": "yes"}, "invalid_request"),
    ):
        bad = client.patch(f"{V1}/webhooks/{hook['id']}", json=body, headers=alice.headers)
        assert bad.status_code == 400, (body, bad.text)
        assert error_of(bad)["code"] == code

    deleted = client.delete(f"{V1}/webhooks/{hook['id']}", headers=alice.headers)
    assert deleted.status_code == 200 and deleted.json() == {
        "object": "webhook_endpoint",
        "id": hook["id"],
        "deleted": True,
    }
    assert client.get(f"{V1}/webhooks/{hook['id']}", headers=alice.headers).status_code == 404
    assert client.delete(f"{V1}/webhooks/{hook['id']}", headers=alice.headers).status_code == 404
    for bad_id in ("abc", str(2**40), "0", "-1"):
        response = client.get(f"{V1}/webhooks/{bad_id}", headers=alice.headers)
        assert response.status_code in (400, 404), response.text


def test_events_feed(client: TestClient, alice: Caller) -> None:
    tx = make_payment(client, alice)
    client.post(f"{V1}/transactions/{tx['reference']}/refund", headers=alice.headers)
    events = client.get(f"{V1}/events", headers=alice.headers).json()["data"]
    assert [e["type"] for e in events] == ["transaction.updated", "transaction.created"]
    assert events[0]["payload"]["reference"] == tx["reference"]
    assert events[0]["payload"]["previous_status"] == "success"
    only = client.get(f"{V1}/events?type=transaction.created", headers=alice.headers).json()
    assert [e["id"] for e in only["data"]] == [events[1]["id"]]


def test_every_request_is_logged(client: TestClient, alice: Caller) -> None:
    make_payment(client, alice)
    client.get(f"{V1}/transactions/txn_nope", headers=alice.headers)
    client.get(f"{V1}/profile")  # anonymous: logged without a merchant
    api_logs.flush()
    logs = client.get(f"{V1}/api-logs", headers=alice.headers).json()["data"]
    seen = [(log["method"], log["endpoint"], log["status_code"]) for log in logs]
    assert seen == [
        ("GET", "/api/v1/transactions/{reference}", 404),
        ("POST", "/api/v1/transactions", 201),
    ]
    assert all(log["response_time_ms"] >= 0 for log in logs)
    api_logs.flush()
    only_errors = client.get(f"{V1}/api-logs?status_code=404", headers=alice.headers).json()
    assert [log["status_code"] for log in only_errors["data"]] == [404]
    posts = client.get(f"{V1}/api-logs?method=POST", headers=alice.headers).json()
    assert [log["method"] for log in posts["data"]] == ["POST"]

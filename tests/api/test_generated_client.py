"""The OpenAPI document as integrators use it: a Python client generated from the served
/api/v1/openapi.json by openapi-python-client lists, creates and refunds a payment, with
operationIds that read as calls and objects that say what they are (`id`, `object`)."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.conftest import Caller

pytestmark = pytest.mark.timeout(120)

PACKAGE = "paybridge_client"
# Objects without an identity of their own (Stripe's balance has no id either).
WITHOUT_ID = {"balance", "analytics"}


def served_spec(client: TestClient) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def generated(client: TestClient, tmp_path: Path) -> Iterator[ModuleType]:
    """The client package generated from the served document, imported from a temp dir."""
    (tmp_path / "openapi.json").write_text(json.dumps(served_spec(client)))
    (tmp_path / "config.yaml").write_text(
        f"package_name_override: {PACKAGE}\nproject_name_override: paybridge-client\n"
        "post_hooks: []\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(tmp_path / "openapi.json"),
            "--config",
            str(tmp_path / "config.yaml"),
            "--output-path",
            str(tmp_path / PACKAGE),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in (result.stdout + result.stderr).lower(), result.stdout + result.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def test_a_generated_client_lists_creates_and_refunds_a_payment(
    generated: ModuleType, api_app: FastAPI, alice: Caller
) -> None:
    def calls(name: str) -> ModuleType:  # `from paybridge_client.api.transactions import ...`
        return importlib.import_module(f"{PACKAGE}.api.transactions.{name}")

    create, listing = calls("create_transaction"), calls("list_transactions")
    refund, get = calls("refund_transaction"), calls("get_transaction")
    models = importlib.import_module(f"{PACKAGE}.models")
    client = generated.AuthenticatedClient(base_url="http://testserver/api/v1", token=alice.token)
    # The app in-process instead of over a socket; the generated code makes the same requests.
    client.set_httpx_client(
        TestClient(api_app, base_url="http://testserver/api/v1", headers=alice.headers)
    )

    created = create.sync(
        client=client,
        body=models.TransactionCreate(
            amount=2_500,
            currency="USD",
            provider="card",
            customer_email="generated@example.com",
            status=models.TransactionCreateStatus.SUCCESS,
        ),
        idempotency_key=str(uuid.uuid4()),
    )
    assert isinstance(created, models.TransactionOut), created
    assert (created.object_, created.status, created.amount) == ("transaction", "success", 2_500)
    assert created.id == created.reference

    page = listing.sync(client=client, limit=5)
    assert isinstance(page, models.ListOutTransactionOut), page
    assert page.object_ == "list" and not page.has_more
    assert [t.id for t in page.data] == [created.id]

    part = refund.sync(
        created.id,
        client=client,
        body=models.RefundRequest(amount=1_000),
        idempotency_key=str(uuid.uuid4()),
    )
    assert isinstance(part, models.TransactionOut), part
    assert (part.status, part.refunded_amount) == ("success", 1_000)
    rest = refund.sync(created.id, client=client, idempotency_key=str(uuid.uuid4()))  # no body
    assert isinstance(rest, models.TransactionOut), rest
    assert (rest.id, rest.status, rest.refunded_amount) == (created.id, "refunded", 2_500)
    assert get.sync(created.id, client=client).status == "refunded"

    again = refund.sync_detailed(created.id, client=client, idempotency_key=str(uuid.uuid4()))
    assert again.status_code == 422
    assert isinstance(again.parsed, models.ErrorOut)
    assert again.parsed.error.code == "not_refundable"


def test_operation_ids_read_as_calls(client: TestClient) -> None:
    spec = served_spec(client)
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", operation_id), operation_id
        assert not re.search(r"_(get|post|patch|put|delete)$", operation_id), operation_id
    assert {"list_transactions", "create_transaction", "refund_transaction", "withdraw"} <= set(ids)


def test_every_object_says_what_it_is(client: TestClient) -> None:
    """Each 2xx JSON body (and each item of a list) declares a required `object`, and an `id`
    unless it is a balance or analytics snapshot."""
    spec = served_spec(client)
    schemas = spec["components"]["schemas"]

    def resolve(ref: dict) -> dict:
        return schemas[ref["$ref"].rsplit("/", 1)[1]] if "$ref" in ref else ref

    checked: dict[str, str] = {}
    for path, item in spec["paths"].items():
        if path in ("/health", "/ready"):
            continue  # probes answer plain status documents
        for method, operation in item.items():
            for code, response in operation["responses"].items():
                if not code.startswith("2"):
                    continue
                body = resolve(response["content"]["application/json"]["schema"])
                if body.get("properties", {}).get("object", {}).get("const") == "list":
                    body = resolve(body["properties"]["data"]["items"])
                properties, required = body.get("properties", {}), body.get("required", [])
                name = properties.get("object", {}).get("const")
                where = f"{method.upper()} {path}: {body.get('title')}"
                if "access" in properties or "logged_out" in properties:
                    continue  # credentials, not objects
                assert name and "object" in required, where
                if name not in WITHOUT_ID:
                    assert "id" in properties and "id" in required, where
                checked[body["title"]] = name
    assert checked["TransactionOut"] == "transaction"
    assert checked["SettlementOut"] == "payout"
    assert checked["WebhookOut"] == "webhook_endpoint"
    assert checked["ApiKeyOut"] == "api_key"
    assert checked["EventOut"] == "event"

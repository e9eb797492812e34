"""Request ids: X-Request-Id in and out, on the ApiLog row, on the events the request wrote and
on its log lines (JSON lines with PAYBRIDGE_LOG_FORMAT=json)."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from paybridge.api.request_log import api_logs
from paybridge.logs import make_handler
from paybridge.models import ApiLog, Event
from tests.api.conftest import Caller
from tests.conftest import TestDatabase

V1 = "/api/v1"
PAYMENT = {
    "amount": 1050,
    "currency": "USD",
    "provider": "card",
    "customer_email": "payer@example.com",
    "status": "success",
}


def test_every_answer_has_a_request_id(client: TestClient, db: TestDatabase) -> None:
    ids = set()
    for path in ("/health", "/profile", "/no-such-route"):  # 200, 401, 404
        response = client.get(f"{V1}{path}")
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"]), path
        ids.add(response.headers["x-request-id"])
    assert len(ids) == 3


def test_a_sane_caller_id_is_kept_and_anything_else_replaced(
    client: TestClient, db: TestDatabase
) -> None:
    kept = client.get(f"{V1}/health", headers={"X-Request-Id": "req_checkout-42.a:b"})
    assert kept.headers["x-request-id"] == "req_checkout-42.a:b"
    for bad in ("x" * 65, "two words", "<script>"):
        replaced = client.get(f"{V1}/health", headers={"X-Request-Id": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])


def test_request_id_ties_the_request_to_its_log_row_and_events(
    client: TestClient, alice: Caller
) -> None:
    response = client.post(
        f"{V1}/transactions", json=PAYMENT, headers={**alice.headers, "X-Request-Id": "req-pay-1"}
    )
    assert response.status_code == 201, response.text
    assert response.headers["x-request-id"] == "req-pay-1"
    other = client.get(f"{V1}/transactions", headers=alice.headers)
    api_logs.flush()
    from paybridge.db import read_session

    with read_session() as session:
        logged = session.exec(select(ApiLog).where(ApiLog.request_id == "req-pay-1")).all()
        events = session.exec(select(Event)).all()
        other_row = session.exec(
            select(ApiLog).where(ApiLog.request_id == other.headers["x-request-id"])
        ).one()
    assert [(row.method, row.endpoint, row.status_code) for row in logged] == [
        ("POST", "/api/v1/transactions", 201)
    ]
    assert events and {event.request_id for event in events} == {"req-pay-1"}
    assert other_row.method == "GET"


def test_events_outside_requests_have_no_request_id(merchant, db: TestDatabase) -> None:  # type: ignore[no-untyped-def]
    from paybridge.services.transactions import transaction_create

    transaction_create(
        merchant_id=merchant.id,
        amount=500,
        currency="USD",
        provider="card",
        customer_email="payer@example.com",
        status="success",
    )
    with db.session() as session:
        assert {event.request_id for event in session.exec(select(Event))} == {None}


def test_json_log_lines_carry_the_request_id(
    client: TestClient, alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log line written while serving a request (here: Redis failing under a route) is one
    JSON object with the request's id."""
    import redis

    from paybridge.api import resources

    def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise redis.ConnectionError("Connection refused.")

    monkeypatch.setattr(resources, "profile", broken)
    monkeypatch.setenv("PAYBRIDGE_LOG_FORMAT", "json")
    stream = io.StringIO()
    handler = make_handler(stream)
    logger = logging.getLogger("paybridge.api.errors")
    logger.addHandler(handler)
    try:
        response = client.get(
            f"{V1}/profile", headers={**alice.headers, "X-Request-Id": "req-log-1"}
        )
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 503
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "req-log-1"
    assert line["level"] == "WARNING" and line["logger"] == "paybridge.api.errors"
    assert "GET /api/v1/profile" in line["message"] and "ConnectionError" in line["message"]
    assert {"ts", "pid"} <= line.keys()


def test_text_log_lines_show_the_request_id(monkeypatch: pytest.MonkeyPatch) -> None:
    from paybridge.logs import request_id_var

    monkeypatch.setenv("PAYBRIDGE_LOG_FORMAT", "text")
    stream = io.StringIO()
    logger = logging.getLogger("paybridge.tests.text")
    logger.addHandler(handler := make_handler(stream))
    token = request_id_var.set("req-text-1")
    try:
        logger.warning("hello %s", "there")
    finally:
        request_id_var.reset(token)
        logger.removeHandler(handler)
    assert "WARNING paybridge.tests.text [req-text-1]: hello there" in stream.getvalue()

"""Property-based requests generated from our own OpenAPI spec (schemathesis): whatever a
client sends, the API answers with a documented status, content type and body shape, and
never with a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from paybridge.api.app import build_api
from tests.api.conftest import Caller, make_payment

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
OPERATIONS = [
    (path, method.upper())
    for path, methods in build_api().openapi()["paths"].items()
    for method in methods
]


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_operation_conforms_to_the_schema(
    api_app: FastAPI, client: TestClient, alice: Caller, path: str, method: str
) -> None:
    make_payment(client, alice, reference="known-ref")
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", api_app)
    operation = schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(case) -> None:  # type: ignore[no-untyped-def]
        case.call_and_validate(headers=alice.headers, checks=CHECKS)

    run()

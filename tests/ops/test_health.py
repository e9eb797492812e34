"""Liveness and readiness probes: unauthenticated, JSON detail per check, 503 when not ready."""

from __future__ import annotations

import time

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from paybridge.api.request_log import api_logs
from paybridge.migrations import alembic_config
from paybridge.models import ApiLog
from paybridge.settings import get_settings
from tests.conftest import TestDatabase
from tests.ops.proxy import closed_port

V1 = "/api/v1"


def test_health_answers_without_credentials_or_dependencies(
    client: TestClient, db: TestDatabase
) -> None:
    response = client.get(f"{V1}/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert isinstance(body["pid"], int)
    assert body["uptime_seconds"] >= 0


def test_probes_are_not_written_to_the_request_log(client: TestClient, db: TestDatabase) -> None:
    api_logs.flush()
    for _ in range(3):
        client.get(f"{V1}/health")
        client.get(f"{V1}/ready")
    api_logs.flush()
    assert db.count(ApiLog) == 0


def test_ready_when_database_is_up_and_migrated(client: TestClient, db: TestDatabase) -> None:
    response = client.get(f"{V1}/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    checks = body["checks"]
    assert checks["database"]["ok"] is True
    assert checks["redis"] == {"ok": True, "configured": False}
    heads = sorted(ScriptDirectory.from_config(alembic_config()).get_heads())
    assert checks["migrations"]["ok"] is True
    assert checks["migrations"]["heads"] == heads  # every head, whatever branches exist
    assert checks["migrations"]["current"] == heads
    assert response.headers["cache-control"] == "no-store"


def test_not_ready_when_the_database_is_behind_the_code(
    client: TestClient, db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Code shipped with a migration the database does not have yet."""
    from paybridge import readiness

    real = readiness.script_heads()
    monkeypatch.setattr(readiness, "script_heads", lambda: real | {"9999_future"})
    response = client.get(f"{V1}/ready")
    assert response.status_code == 503
    migrations = response.json()["checks"]["migrations"]
    assert migrations["ok"] is False
    assert "latest migration" in migrations["error"]
    assert "9999_future" in migrations["heads"]
    assert "9999_future" not in migrations["current"]


def test_ready_checks_redis_when_configured(
    client: TestClient, db: TestDatabase, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    response = client.get(f"{V1}/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["redis"]["ok"] is True


def test_not_ready_while_redis_is_unreachable(
    client: TestClient, db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{closed_port()}/0")
    get_settings.cache_clear()
    started = time.monotonic()
    response = client.get(f"{V1}/ready")
    assert time.monotonic() - started < 10
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"]["ok"] is False and "Connection" in checks["redis"]["error"]
    assert checks["database"]["ok"] is True
    assert client.get(f"{V1}/health").status_code == 200  # liveness never depends on Redis


def test_not_ready_while_the_database_is_unreachable(
    client: TestClient, db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    if db.is_sqlite:
        pytest.skip("an embedded SQLite file cannot be unreachable")
    from tests.conftest import use_database

    down = make_url(db.url).set(port=closed_port()).render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", down)
    use_database(down)
    try:
        started = time.monotonic()
        response = client.get(f"{V1}/ready")
        assert time.monotonic() - started < 10
        assert response.status_code == 503
        checks = response.json()["checks"]
        assert checks["database"]["ok"] is False
        assert checks["migrations"]["ok"] is False
        assert "OperationalError" in checks["database"]["error"]
        assert client.get(f"{V1}/health").status_code == 200
    finally:
        monkeypatch.setenv("DATABASE_URL", db.url)
        use_database(db.url)


def test_a_hanging_check_fails_within_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from paybridge import readiness

    def hang() -> dict:
        time.sleep(1)
        return {}

    result = asyncio.run(readiness._run(hang, timeout=0.2))
    assert result.ok is False and "no answer within 0.2 s" in result.error

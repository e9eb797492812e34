"""Database connections are budgeted: every worker of every instance together stays below
PostgreSQL's max_connections with a reserve, and `serve` refuses to start when it cannot."""

from __future__ import annotations

import subprocess
import sys

import pytest

from paybridge.engine import connection_plan
from tests.ops.topology import ROOT


def plan(monkeypatch: pytest.MonkeyPatch, limit: int = 100, **env: str):  # type: ignore[no-untyped-def]
    for name in ("PAYBRIDGE_APP_PROCESSES", "PAYBRIDGE_INSTANCES", "PAYBRIDGE_DB_POOL_SIZE",
                 "PAYBRIDGE_DB_RESERVE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return connection_plan(limit)


def test_each_worker_gets_an_equal_share_below_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    two_by_five = plan(monkeypatch, PAYBRIDGE_APP_PROCESSES="5", PAYBRIDGE_INSTANCES="2")
    assert (two_by_five.per_process, two_by_five.total, two_by_five.fits) == (8, 80, True)
    assert "80 of PostgreSQL's max_connections 100" in two_by_five.describe()
    alone = plan(monkeypatch)
    assert (alone.per_process, alone.fits) == (20, True)  # capped: a worker needs few


def test_too_many_workers_for_the_server_do_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    crowded = plan(monkeypatch, PAYBRIDGE_APP_PROCESSES="8", PAYBRIDGE_INSTANCES="8")
    assert crowded.per_process == 2 and not crowded.fits
    explicit = plan(monkeypatch, PAYBRIDGE_APP_PROCESSES="5", PAYBRIDGE_DB_POOL_SIZE="30")
    assert explicit.per_process == 30 and not explicit.fits  # 150 > 100 - 20


def test_serve_refuses_to_start_beyond_the_budget(backend, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    if backend.is_sqlite:
        pytest.skip("the budget is PostgreSQL's")
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": backend.url,
        "GRANIAN_WORKERS": "8",
        "PAYBRIDGE_INSTANCES": "40",
        "PAYBRIDGE_ENV": "test",
    }
    result = subprocess.run(
        [sys.executable, "-m", "paybridge", "serve", "--backend-only"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "not enough database connections: 40 instance(s) x 8 worker(s)" in result.stderr
    assert "PgBouncer" in result.stderr

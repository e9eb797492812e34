"""Liveness and readiness of this process, for load balancers and orchestrators.

- liveness (`/api/v1/health`): the process answers; no dependency is touched, so a database
  outage never gets healthy instances killed;
- readiness (`/api/v1/ready`): the database answers, Redis answers when `REDIS_URL` is set, and
  the database is at every alembic head. Each check runs on a thread with a deadline, so a
  dependency that hangs makes the check fail instead of the probe hang.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from paybridge import metrics
from paybridge.engine import get_engine
from paybridge.migrations import alembic_config
from paybridge.selectors.health import uptime_seconds
from paybridge.settings import get_settings

CHECK_TIMEOUT = 5.0  # seconds; a check slower than this counts as failed


@dataclass
class CheckResult:
    ok: bool
    latency_ms: int = 0
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": self.ok, "latency_ms": self.latency_ms}
        if self.error is not None:
            body["error"] = self.error
        body.update(self.detail)
        return body


@lru_cache(maxsize=1)
def script_heads() -> frozenset[str]:
    """Every head of the migration scripts shipped with this code (read once per process)."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def check_database() -> dict[str, Any]:
    with get_engine().connect() as connection:
        connection.execute(sa.text("SELECT 1"))
    return {}


def check_migrations() -> dict[str, Any]:
    with get_engine().connect() as connection:
        current = frozenset(MigrationContext.configure(connection).get_current_heads())
    heads = script_heads()
    detail = {"current": sorted(current), "heads": sorted(heads)}
    if current != heads:
        raise _NotReady("the database is not at the latest migration", detail)
    return detail


def check_redis() -> dict[str, Any]:
    from paybridge.redis_client import redis_for

    url = get_settings().redis_url
    assert url is not None
    redis_for(url).ping()
    return {}


class _NotReady(Exception):
    def __init__(self, message: str, detail: dict[str, Any]) -> None:
        super().__init__(message)
        self.detail = detail


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(error).__name__}: {first}"[:300] if first else type(error).__name__


async def _run(check: Callable[[], dict[str, Any]], timeout: float) -> CheckResult:
    started = time.perf_counter()

    def elapsed() -> int:
        return round((time.perf_counter() - started) * 1000)

    try:
        detail = await asyncio.wait_for(asyncio.to_thread(check), timeout)
    except TimeoutError:
        return CheckResult(False, elapsed(), f"no answer within {timeout:g} s")
    except _NotReady as error:
        return CheckResult(False, elapsed(), str(error), error.detail)
    except Exception as error:  # any failure of a dependency means "not ready"
        return CheckResult(False, elapsed(), _describe(error))
    return CheckResult(True, elapsed(), detail=detail)


async def readiness(timeout: float = CHECK_TIMEOUT) -> tuple[bool, dict[str, Any]]:
    """(ready, body): every check's result, run concurrently."""
    checks: dict[str, Callable[[], dict[str, Any]]] = {
        "database": check_database,
        "migrations": check_migrations,
    }
    redis_configured = get_settings().redis_url is not None
    if redis_configured:
        checks["redis"] = check_redis
    results = dict(
        zip(checks, await asyncio.gather(*(_run(c, timeout) for c in checks.values())), strict=True)
    )
    body: dict[str, Any] = {name: result.as_dict() for name, result in results.items()}
    if not redis_configured:
        body["redis"] = {"ok": True, "configured": False}
    ready = all(result.ok for result in results.values())
    return ready, {"status": "ready" if ready else "not_ready", "checks": body}


def liveness() -> dict[str, Any]:
    return {
        "status": "ok",
        "pid": os.getpid(),
        "uptime_seconds": uptime_seconds(),
        "counters": metrics.snapshot(),
    }

"""System health for a merchant's dashboard: API latency and error share from the request logs,
and how long this process has been up."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from paybridge.db import utcnow
from paybridge.models import ApiLog
from paybridge.selectors.ratios import ratio_bp

WINDOW = timedelta(hours=24)


def _process_age_seconds() -> float | None:
    """How long ago the kernel started this process (Linux), not when this module was imported."""
    try:
        with open("/proc/self/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        with open("/proc/uptime") as uptime:
            since_boot = float(uptime.read().split()[0])
        started_after_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, since_boot - started_after_boot)


PROCESS_STARTED_MONOTONIC = time.monotonic() - (_process_age_seconds() or 0.0)


def uptime_seconds() -> int:
    """Seconds since this process started (the Granian worker serving the request)."""
    return int(time.monotonic() - PROCESS_STARTED_MONOTONIC)


@dataclass(frozen=True)
class ApiStats:
    requests: int
    errors: int  # 5xx answers; 4xx are the caller's mistakes, not ours
    client_errors: int
    p50_ms: int | None
    p95_ms: int | None

    @property
    def error_share_bp(self) -> int | None:
        """Server errors per request in basis points; None before the first request."""
        return ratio_bp(self.errors, self.requests)


def api_stats(*, session: Session, merchant_id: int, now: datetime | None = None) -> ApiStats:
    """Request count, error counts and p50/p95 latency over the last 24 hours."""
    since = (now or utcnow()) - WINDOW
    scope = (col(ApiLog.merchant_id) == merchant_id, col(ApiLog.created_at) >= since)
    total, errors, client_errors = session.exec(
        select(
            sa.func.count(),
            sa.func.count().filter(col(ApiLog.status_code) >= 500),
            sa.func.count().filter(col(ApiLog.status_code).between(400, 499)),
        ).where(*scope)
    ).one()
    return ApiStats(
        requests=int(total),
        errors=int(errors),
        client_errors=int(client_errors),
        p50_ms=_percentile(session, scope, int(total), 50),
        p95_ms=_percentile(session, scope, int(total), 95),
    )


def _percentile(
    session: Session, scope: tuple[sa.ColumnElement[bool], ...], total: int, pct: int
) -> int | None:
    """Nearest-rank percentile, portable across PostgreSQL and SQLite."""
    if total == 0:
        return None
    rank = max(1, -(-pct * total // 100))
    value = session.exec(
        select(ApiLog.response_time_ms)
        .where(*scope)
        .order_by(col(ApiLog.response_time_ms))
        .offset(rank - 1)
        .limit(1)
    ).first()
    return int(value) if value is not None else None

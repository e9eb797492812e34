"""Unauthenticated probes: `/health` (liveness) and `/ready` (readiness, 503 when not ready).
Neither is rate limited nor written to the request log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from paybridge.readiness import liveness, readiness

router = APIRouter(tags=["health"])

PROBE_PATHS = frozenset({"/api/v1/health", "/api/v1/ready"})


@router.get("/health", summary="Liveness: the process answers (no dependency is checked)")
async def get_health() -> dict[str, Any]:
    return liveness()


@router.get(
    "/ready",
    summary="Readiness: database, Redis (when configured) and migrations",
    responses={503: {"description": "Not ready; the failing checks say why"}},
)
async def get_readiness() -> JSONResponse:
    ok, body = await readiness()
    return JSONResponse(body, status_code=200 if ok else 503, headers={"Cache-Control": "no-store"})
